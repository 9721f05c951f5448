"""Figure and data downloads: PNG (high resolution) and SVG of a figure, CSV of its numbers.

Images are rendered by kaleido (headless Chromium; Debian's ``/usr/bin/chromium`` is found by
kaleido itself). One kaleido server is started on first use and kept for the process, so every
later export takes a fraction of a second instead of starting a browser each time.

An exported figure is made to stand on its own: it gets a title and the page's footnotes
(sources, data cutoff, filters, methods) under the plot. CSV files go through
``engine.export.csv_bytes``, which neutralizes cells a spreadsheet would run as formulas.

The download buttons generate their files only when clicked (deferred ``data`` callables), so
a filter change never pays for an image export. Streamlit gives a deferred button a new file id on
every run, so the browser redraws it after every rerun; the Explorer therefore makes them only
while their menu (a lazy popover) is open.
"""
from __future__ import annotations

import copy
import re
import threading
import warnings
from typing import Callable, Iterable

import pandas as pd
import plotly.graph_objects as go

from engine.export import csv_bytes
from engine.text import wrap_words

PNG_SCALE = 3  # 3x the layout size: about 2700 px wide for a 900 px figure
EXPORT_WIDTH = 900

_server_lock = threading.Lock()
_server_started = False


def _ensure_server() -> None:
    """Start kaleido's persistent browser once per process (later exports reuse it)."""
    global _server_started
    if _server_started:
        return
    with _server_lock:
        if _server_started:
            return
        try:
            import kaleido

            kaleido.start_sync_server(silence_warnings=True)
        except Exception:  # noqa: BLE001 - exports still work, one browser start each
            pass
        _server_started = True


def export_figure(fig: go.Figure, *, title: str | None = None, footnotes: Iterable[str] = (),
                  width: int = EXPORT_WIDTH, wrap_at: int = 150) -> go.Figure:
    """A copy of ``fig`` with a title on top and the footnotes under it, sized for export."""
    out = go.Figure(copy.deepcopy(fig.to_dict()))
    lines: list[str] = []
    for text in footnotes:
        lines += wrap_words(_plain(text), wrap_at)
    margin = out.layout.margin
    top = (margin.t if margin.t is not None else 40) + (34 if title else 0)
    bottom = margin.b if margin.b is not None else 40
    foot_px = 14 * len(lines) + (14 if lines else 0)
    height = int((out.layout.height or 500) + (34 if title else 0) + foot_px)
    out.update_layout(width=width, height=height, margin=dict(t=top, b=bottom + foot_px))
    if title:
        out.update_layout(title=dict(text=title, x=0.01, xanchor="left", y=1, yanchor="top", yref="container",
                                     pad=dict(t=10), font=dict(size=16)))
    if lines:
        out.add_annotation(
            text="<br>".join(lines), x=0, y=0, xref="paper", yref="paper", xanchor="left", yanchor="top",
            yshift=-bottom, showarrow=False, align="left", font=dict(size=10, color="#444"),
        )
    return out


def _plain(text: str) -> str:
    """Markdown emphasis and HTML tags out, for figure annotations."""
    text = re.sub(r"<[^>]+>", "", str(text))
    return text.replace("**", "").replace("`", "")


def _to_image(fig: go.Figure, **kwargs) -> bytes:
    _ensure_server()
    with warnings.catch_warnings():
        # plotly passes browser options that a running kaleido server does not need
        warnings.filterwarnings("ignore", message="The kopts argument is ignored")
        return fig.to_image(**kwargs)


def png_bytes(fig: go.Figure, scale: int = PNG_SCALE) -> bytes:
    return _to_image(fig, format="png", scale=scale)


def svg_bytes(fig: go.Figure) -> bytes:
    return _to_image(fig, format="svg")


def safe_name(text: str) -> str:
    """A file-name stem from free text (letters, digits, dashes)."""
    stem = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return stem[:80] or "figure"


def download_buttons(make_figure: Callable[[], go.Figure], numbers: pd.DataFrame | Callable[[], pd.DataFrame],
                     stem: str, key: str) -> None:
    """Three buttons, one under the other: PNG, SVG and CSV of the numbers behind the figure, in
    the current container (a popover on the Explorer). All three files are made when clicked
    (``numbers`` may be a DataFrame or a function returning one)."""
    import streamlit as st  # this helper is the only Streamlit part of the module

    stem = safe_name(stem)
    st.download_button(
        "PNG image", data=lambda: png_bytes(make_figure()), file_name=f"{stem}.png", mime="image/png",
        key=f"{key}_png", on_click="ignore", icon=":material/image:", width="stretch",
        help="High-resolution image with title and footnotes",
    )
    st.download_button(
        "SVG image", data=lambda: svg_bytes(make_figure()), file_name=f"{stem}.svg", mime="image/svg+xml",
        key=f"{key}_svg", on_click="ignore", icon=":material/draw:", width="stretch",
        help="Vector image for slides and posters",
    )
    st.download_button(
        "CSV numbers", data=lambda: csv_bytes(numbers() if callable(numbers) else numbers), file_name=f"{stem}.csv",
        mime="text/csv", key=f"{key}_csv", on_click="ignore", icon=":material/table:", width="stretch",
        help="The numbers behind the figure",
    )
