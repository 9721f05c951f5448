"""A generic interval ("forest") plot: one row per estimate with its confidence interval.

Used for hazard ratios by subgroup on the Explorer and reusable for any estimate with an interval
(cross-study medians or rates with a pooled diamond, ...). The caller describes rows; this module
only draws them.

Rows
----
Pass a sequence of :class:`ForestRow` (or dicts with the same keys). Each row is one line of the
plot, drawn top to bottom in the given order:

* ``label``: text on the left (a row with ``header=True`` is a bold section title without marker);
* ``estimate``, ``ci_low``, ``ci_high``: the point and its interval (``None`` where unknown: a row
  without estimate shows its label and ``value_text`` only, e.g. "not estimable");
* ``kind``: ``reconstructed`` (filled circle), ``reported`` (square), ``user`` (triangle) or
  ``pooled`` (a diamond spanning the interval, as in meta-analyses);
* ``left_text``: a small column next to the label, e.g. "21/15" (n / events);
* ``value_text``: the estimate written out on the right, e.g. "0.29 (0.15–0.56)"; built from the
  numbers when empty;
* ``hover``: extra lines for the tooltip (source, method, notes);
* ``indent``: 0 for normal rows, 1 to indent under a header.

Options: ``scale`` "log" (ratios) or "linear"; ``reference`` draws a vertical line (1 for ratios,
``None`` for none); ``x_title``; ``favours`` = ("favours A", "favours B") written under the axis
on each side of the reference; ``value_header`` and ``left_header`` column titles; ``font_scale``
for presentation mode. Intervals running beyond the axis range end in an arrow.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import pandas as pd
import plotly.graph_objects as go

from components.provenance import MARKER_COLORS, MARKER_SYMBOLS, SHORT_TEXT, make_figure
from engine.results import finite_or_none


@dataclass
class ForestRow:
    label: str
    estimate: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    kind: str = "reconstructed"
    left_text: str = ""
    value_text: str = ""
    hover: str = ""
    header: bool = False
    indent: int = 0
    group: str = ""  # free tag for the caller (e.g. variable name), carried into the CSV
    extra: dict = field(default_factory=dict)


def fmt_estimate(est, lo, hi, digits: int = 2) -> str:
    """"0.29 (0.15–0.56)"; parts that are unknown are left out or written "NR"."""
    est, lo, hi = finite_or_none(est), finite_or_none(lo), finite_or_none(hi)
    if est is None:
        return "not estimable"
    text = f"{est:.{digits}f}"
    if lo is not None or hi is not None:
        text += f" ({'NR' if lo is None else f'{lo:.{digits}f}'}–{'NR' if hi is None else f'{hi:.{digits}f}'})"
    return text


def rows_frame(rows: Sequence[ForestRow | dict]) -> pd.DataFrame:
    """The rows as a table (for CSV downloads): one line per row, headers included."""
    recs = []
    for r in rows:
        r = r if isinstance(r, ForestRow) else ForestRow(**r)
        d = asdict(r)
        extra = d.pop("extra") or {}
        d.update(extra)
        recs.append(d)
    return pd.DataFrame(recs)


def _axis_range(rows: list[ForestRow], scale: str, reference: float | None) -> tuple[float, float]:
    vals = []
    for r in rows:
        for v in (r.estimate, r.ci_low, r.ci_high):
            v = finite_or_none(v)
            if v is not None and (scale != "log" or v > 0):
                vals.append(v)
    if reference is not None:
        vals.append(reference)
    if not vals:
        return (0.1, 10.0) if scale == "log" else (0.0, 1.0)
    lo, hi = min(vals), max(vals)
    if scale == "log":
        lo, hi = max(lo, 0.02), min(hi, 50.0)
        # symmetric-ish decades around the reference, with a margin
        llo, lhi = math.log10(lo) - 0.08, math.log10(hi) + 0.08
        if reference is not None:
            span = max(abs(llo - math.log10(reference)), abs(lhi - math.log10(reference)), 0.35)
            llo, lhi = math.log10(reference) - span, math.log10(reference) + span
        return 10 ** llo, 10 ** lhi
    pad = (hi - lo) * 0.08 or 0.5
    return lo - pad, hi + pad


def _log_ticks(lo: float, hi: float) -> list[float]:
    for cands in ((0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50), (0.01, 0.1, 1, 10, 100)):
        ticks = [t for t in cands if lo <= t <= hi]
        if len(ticks) <= 7:
            break
    if len(ticks) < 3:
        ticks = sorted(set(ticks) | {t for t in (0.25, 0.5, 0.75, 1, 1.5, 2, 4) if lo <= t <= hi})
    return ticks


def forest_figure(
    rows: Sequence[ForestRow | dict],
    *,
    scale: str = "log",
    reference: float | None = 1.0,
    x_title: str = "Hazard ratio (95% CI)",
    favours: tuple[str, str] | None = None,
    left_header: str = "n / events",
    value_header: str = "HR (95% CI)",
    title: str | None = None,
    font_scale: float = 1.0,
    height: int | None = None,
    label_width: float = 0.33,
    value_width: float = 0.22,
    legend: bool = True,
    validate: bool = True,
) -> go.Figure:
    """Draw ``rows`` as a forest plot; see the module docstring for the row fields.

    One x axis (the estimates); the text columns (labels, ``left_text``, values) are layout
    annotations in paper coordinates. Traces and annotations are collected first and the figure
    is made in one pass (adding them one at a time re-validates the whole figure each time).
    ``validate=False`` skips plotly's property validation (the Explorer's hot path; the tests
    validate the same code). The top margin leaves room for the legend (a legend that pushes the
    margin makes plotly.js draw the figure twice).
    """
    rows = [r if isinstance(r, ForestRow) else ForestRow(**r) for r in rows]
    fs = font_scale
    base = 12 * fs
    n = len(rows)
    ys = list(range(n, 0, -1))  # first row on top
    lo, hi = _axis_range(rows, scale, reference)
    left_w = 0.12 if any(r.left_text for r in rows) else 0.0
    x0 = label_width + left_w
    x1 = 1.0 - value_width
    top = n + 0.9
    traces: list[dict] = []
    annotations: list[dict] = []

    # estimates: one line trace (intervals) and one marker trace per kind
    by_kind: dict[str, dict[str, list]] = {}
    for r, y in zip(rows, ys):
        est, cl, ch = finite_or_none(r.estimate), finite_or_none(r.ci_low), finite_or_none(r.ci_high)
        if r.header or est is None or (scale == "log" and est <= 0):
            continue
        k = by_kind.setdefault(r.kind, {"lx": [], "ly": [], "mx": [], "my": [], "tip": [], "diamonds": []})
        tip = f"<b>{r.label}</b><br>{r.value_text or fmt_estimate(est, cl, ch)}"
        if r.left_text:
            tip += f"<br>{left_header}: {r.left_text}"
        tip += f"<br>{SHORT_TEXT.get(r.kind, r.kind)}"
        if r.hover:
            tip += "<br>" + r.hover
        color = MARKER_COLORS.get(r.kind, "#444")
        if cl is not None or ch is not None:
            a = cl if cl is not None and (scale != "log" or cl > 0) else None
            a_draw = max(a, lo) if a is not None else est
            b_draw = min(ch, hi) if ch is not None else est
            k["lx"] += [a_draw, b_draw, None]
            k["ly"] += [y, y, None]
            for end, off, edge in ((a, 14, lo), (ch, -14, hi)):
                if end is not None and ((off > 0 and end < lo) or (off < 0 and end > hi)):
                    annotations.append(dict(
                        x=math.log10(edge) if scale == "log" else edge, y=y, ax=off, ay=0, xref="x", yref="y",
                        showarrow=True, arrowhead=2, arrowsize=1, arrowcolor=color, arrowwidth=1.5, text=""))
        if r.kind == "pooled" and cl is not None and ch is not None:
            k["diamonds"].append((cl, est, ch, y, tip))
        else:
            k["mx"].append(est)
            k["my"].append(y)
            k["tip"].append(tip)
    order = {k: i for i, k in enumerate(("reconstructed", "user", "reported", "pooled"))}
    for kind, k in sorted(by_kind.items(), key=lambda kv: order.get(kv[0], 9)):
        color = MARKER_COLORS.get(kind, "#444")
        if k["lx"]:
            traces.append(dict(type="scatter", x=k["lx"], y=k["ly"], mode="lines", hoverinfo="skip",
                               line=dict(color=color, width=2 * fs), showlegend=False, legendgroup=kind))
        if k["mx"]:
            traces.append(dict(
                type="scatter", x=k["mx"], y=k["my"], mode="markers", hoverinfo="text", hovertext=k["tip"],
                marker=dict(symbol=MARKER_SYMBOLS.get(kind, "circle"), size=11 * fs, color=color,
                            line=dict(color="white", width=1)),
                name=SHORT_TEXT.get(kind, kind), legendgroup=kind, showlegend=legend))
        for i, (cl, est, ch, y, tip) in enumerate(k["diamonds"]):
            h = 0.32
            traces.append(dict(
                type="scatter", x=[cl, est, ch, est, cl], y=[y, y + h, y, y - h, y], mode="lines", fill="toself",
                fillcolor=color, line=dict(color=color, width=1), hoverinfo="text", hovertext=tip,
                name=SHORT_TEXT.get(kind, kind), legendgroup=kind, showlegend=legend and i == 0 and not k["mx"]))
    for tr in traces:
        tr.update(xaxis="x", yaxis="y")

    # text columns as annotations in paper coordinates (one list, added with the layout): labels
    # left aligned at the left edge, n/events right aligned before the plot, values right aligned
    def text(x, y, t, align="left", size=base, color="#222"):
        annotations.append(dict(x=x, y=y, xref="paper", yref="y", text=t, showarrow=False, xanchor=align,
                                align=align, font=dict(size=size, color=color)))

    for r, y in zip(rows, ys):
        indent = "&nbsp;" * (3 * r.indent)
        if r.header:
            text(0.0, y, f"{indent}<b>{r.label}</b>")
            continue
        reported = r.kind == "reported"
        text(0.0, y, indent + r.label, size=base * 0.95, color=MARKER_COLORS["reported"] if reported else "#222")
        if r.left_text:
            text(x0 - 0.01, y, r.left_text, "right", base * 0.88, "#555")
        text(1.0, y, r.value_text or fmt_estimate(r.estimate, r.ci_low, r.ci_high), "right", base * 0.9,
             MARKER_COLORS["reported"] if reported else "#222")
    if left_header and left_w:
        text(x0 - 0.01, top, f"<b>{left_header}</b>", "right", base * 0.85, "#555")
    text(1.0, top, f"<b>{value_header}</b>", "right", base * 0.85, "#555")

    shapes = []
    if reference is not None:
        shapes.append(dict(type="line", x0=reference, x1=reference, y0=0.4, y1=n + 0.5, xref="x", yref="y",
                           line=dict(color="#666", width=1, dash="dot")))
    if favours:
        ref_x = reference if reference is not None else (lo + hi) / 2
        for text, anchor in zip(favours, ("right", "left")):
            annotations.append(dict(
                x=math.log10(ref_x) if scale == "log" else ref_x, y=0, xref="x", yref="paper", yanchor="top",
                yshift=-23 * fs, xshift=-4 if anchor == "right" else 4,
                text=f"← {text}" if anchor == "right" else f"{text} →", showarrow=False, xanchor=anchor,
                font=dict(size=base * 0.8, color="#555")))

    xaxis = dict(domain=[x0, x1], anchor="y",
                 title=dict(text=x_title, font=dict(size=base * 0.9), standoff=(20 if favours else 4) * fs),
                 zeroline=False, showgrid=True, gridcolor="#eee", tickfont=dict(size=base * 0.85),
                 showline=True, linecolor="#999", ticks="outside", tickangle=0, automargin=False)
    if scale == "log":
        ticks = _log_ticks(lo, hi)
        xaxis.update(type="log", range=[math.log10(lo), math.log10(hi)], tickvals=ticks,
                     ticktext=[f"{t:g}" for t in ticks])
    else:
        xaxis.update(range=[lo, hi])
    layout = dict(
        xaxis=xaxis,
        yaxis=dict(range=[0.4, n + 1.4], visible=False, fixedrange=True),
        shapes=shapes,
        annotations=annotations,
        height=height or int(max(260, 30 * fs * n + (150 if favours else 120) * fs)),
        margin=dict(l=8, r=8, t=(60 if title else 38) * fs, b=(72 if favours else 52) * fs),
        plot_bgcolor="white", paper_bgcolor="white",
        font=dict(size=base, family="Inter, Helvetica, Arial, sans-serif"),
        showlegend=legend and bool(by_kind),
        legend=dict(orientation="h", x=0, xanchor="left", y=1, yanchor="bottom", yref="paper",
                    font=dict(size=base * 0.85), traceorder="normal", itemclick=False, itemdoubleclick=False),
        hoverlabel=dict(font=dict(size=base * 0.9)),
    )
    if title:
        layout["title"] = dict(text=title, x=0, xanchor="left", font=dict(size=base * 1.15))
    return make_figure(traces, layout, validate=validate)


def empty_figure(message: str, height: int = 300, font_scale: float = 1.0) -> go.Figure:
    """A blank figure carrying a message (so a panel keeps its size and says why it is empty)."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=14 * font_scale, color="#555"), align="center")
    fig.update_layout(height=height, xaxis=dict(visible=False), yaxis=dict(visible=False),
                      plot_bgcolor="white", paper_bgcolor="white", margin=dict(l=10, r=10, t=10, b=10))
    return fig


def rows_from_frame(df: pd.DataFrame) -> list[ForestRow]:
    """Rows from a DataFrame with ForestRow's column names (unknown columns go to ``extra``)."""
    names = set(ForestRow.__dataclass_fields__)
    out = []
    for rec in df.to_dict("records"):
        base = {k: v for k, v in rec.items() if k in names and k != "extra"}
        extra = {k: v for k, v in rec.items() if k not in names}
        out.append(ForestRow(**base, extra=extra))
    return out


