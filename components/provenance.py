"""Where a number comes from, said the same way on every figure and page.

Three kinds of data reach the screen:

* ``reported``: printed in a paper (table, figure caption or text), shown as stored;
* ``reconstructed``: patient rows rebuilt from a paper's published summaries (curves, medians,
  numbers at risk, counts), so every estimate computed from them is an approximation;
* ``user``: patient rows a user uploaded.

This module holds the words, colours and marker shapes for those kinds, badges (HTML for the
page, plotly annotations for figures), and the footnote block; and, shared by the figure modules,
the lean plotly template and the text-width estimate they size their margins with. Pure
functions, no Streamlit.
"""
from __future__ import annotations

import hashlib
import html
import re
from typing import Iterable

import plotly.graph_objects as go

BADGE_TEXT = {
    "reported": "Reported in the paper",
    "reconstructed": "Reconstructed from published summaries",
    "user": "User-uploaded data",
    "pooled": "Pooled estimate",
    "mixed": "Reconstructed and user data",
}
SHORT_TEXT = {
    "reported": "reported",
    "reconstructed": "reconstructed",
    "user": "user data",
    "pooled": "pooled",
}
# Colours of the badges (background, text) and of estimate markers.
BADGE_COLORS = {
    "reported": ("#e8f1fb", "#0b4f8a"),
    "reconstructed": ("#fff4e0", "#8a5200"),
    "user": ("#e9f7ef", "#1d6b3a"),
    "pooled": ("#f1ecf9", "#4b2a85"),
    "mixed": ("#fff4e0", "#8a5200"),
}
MARKER_COLORS = {
    "reported": "#0b4f8a",
    "reconstructed": "#d9730d",
    "user": "#1d8a4a",
    "pooled": "#4b2a85",
}
MARKER_SYMBOLS = {
    "reported": "square",
    "reconstructed": "circle",
    "user": "triangle-up",
    "pooled": "diamond",
}

def badge_html(kind: str) -> str:
    """A small inline badge (HTML) for Streamlit markdown with ``unsafe_allow_html``."""
    bg, fg = BADGE_COLORS.get(kind, BADGE_COLORS["reported"])
    text = BADGE_TEXT.get(kind, kind)
    return (
        f'<span style="background:{bg};color:{fg};border:1px solid {fg}33;border-radius:0.6em;'
        f'padding:0.05em 0.55em;font-size:0.8em;font-weight:600;white-space:nowrap">{text}</span>'
    )


def badge_annotation(kind: str, *, x: float = 0.0, y: float = 1.0, xanchor: str = "left",
                     yanchor: str = "bottom", size: int = 11, text: str | None = None) -> dict:
    """A plotly annotation (in paper coordinates) that reads as a badge on a figure."""
    bg, fg = BADGE_COLORS.get(kind, BADGE_COLORS["reported"])
    return dict(
        text=text or BADGE_TEXT.get(kind, kind),
        x=x, y=y, xref="paper", yref="paper", xanchor=xanchor, yanchor=yanchor,
        showarrow=False, font=dict(size=size, color=fg), bgcolor=bg, bordercolor=fg,
        borderwidth=1, borderpad=3,
    )


def footnote_html(lines: Iterable[str], font_rem: float = 0.8) -> str:
    """Footnote lines as one small grey HTML block (every line escaped: study and cohort names
    can come from users)."""
    body = "<br>".join(html.escape(line) for line in lines if line)
    return (f"<div style='font-size:{font_rem:.2f}rem;color:#555;line-height:1.35;margin-top:0.4rem'>"
            f"{body}</div>")


_MD_SPECIAL = "\\`*_{}[]()<>#+-.!|~$"


def md_escape(text: str) -> str:
    """Text for Streamlit markdown shown literally: names and link parameters come from users,
    and must not become links, emphasis or HTML."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in str(text))


# --------------------------------------------------------------------------- figure plumbing
# Shared by the figure modules. Measured in Chromium (docs/performance.md):
#
# * Streamlit draws every new chart twice: Plotly.react when it mounts, then again after its
#   theme pass, with copies of the same objects. plotly.js compares a template object and
#   object-valued attributes by identity, and (without a layout.datarevision) data arrays too, so
#   the second pass was a full redraw. Our figures therefore carry no template (the few settings
#   of plotly's default template they rely on are set directly) and a datarevision made from
#   their content; the second pass then costs ~9 ms instead of ~25 ms per chart.
# * Axis "automargin" makes plotly.js draw a figure again whenever it has to grow a margin, so
#   each figure sets margins that fit its labels (text_width); automargin stays on as a safety net.
_TEMPLATE_LOOK = {  # what plotly's default template gave the figures, set without a template
    "colorway": ["#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880",
                 "#FF97FF", "#FECB52"],
    "hovermode": "closest",
    "annotationdefaults": {"arrowcolor": "#2a3f5f", "arrowhead": 0, "arrowwidth": 1},
    "shapedefaults": {"line": {"color": "#2a3f5f"}},
    "autotypenumbers": "strict",
}
_AXIS_LOOK = {"gridcolor": "white", "linecolor": "white", "ticks": "", "zerolinecolor": "white",
              "zerolinewidth": 2, "automargin": True}
_AXIS_KEY = re.compile(r"^[xy]axis\d*$")


def rgba(hex_color: str, alpha: float) -> str:
    """``#1f5fa8`` with an opacity, as plotly's ``rgba(r,g,b,a)``."""
    h = hex_color.lstrip("#")
    return f"rgba({int(h[0:2], 16)},{int(h[2:4], 16)},{int(h[4:6], 16)},{alpha})"


def make_figure(traces: list[dict], layout: dict, *, validate: bool = True) -> go.Figure:
    """A figure from plain trace and layout dicts, with the look of plotly's default template but
    no template object, and a content-derived ``layout.datarevision`` (see above). The dicts are
    not modified. ``validate=False`` skips plotly.py's property validation (the Explorer's hot
    path; the tests build the same figures validated)."""
    lay = {**_TEMPLATE_LOOK, **layout}
    lay["font"] = {"color": "#2a3f5f", **layout.get("font", {})}
    lay["hoverlabel"] = {"align": "left", **layout.get("hoverlabel", {})}
    for key, axis in layout.items():
        if _AXIS_KEY.match(key):
            title = axis.get("title")
            lay[key] = {**_AXIS_LOOK, **axis,
                        "title": {"standoff": 15, **title} if isinstance(title, dict) else title or {"standoff": 15}}
    data = []
    for tr in traces:
        if tr.get("type") == "bar":
            marker = tr.get("marker", {})
            tr = {**tr, "marker": {"line": {"color": "#E5ECF6", "width": 0.5}, **marker}}
        data.append(tr)
    lay["datarevision"] = hashlib.blake2b(repr((data, lay)).encode(), digest_size=8).hexdigest()
    fig = go.Figure(data=data, layout=lay, _validate=validate)
    fig.layout.template = None  # none at all (null when not validated)
    return fig


# Advance widths of Helvetica / Arial (Nimbus Sans, Liberation Sans) in 1/1000 em, ASCII 32-126.
_HELVETICA = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778,
    722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278,
    278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556,
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
]
_TAG = re.compile(r"<[^>]+>")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)


def text_width(text: str, size: float) -> float:
    """Width in px of plotly label text (``<br>`` lines, tags and entities allowed) at font
    ``size`` px, from Helvetica metrics (what Chromium draws for the figures' font list on Linux,
    macOS and Windows), bold where the text has ``<b>``. Used to give a figure margins that fit
    its labels; where a wider font is installed (Inter), automargin widens the margin instead."""
    bold = "<b>" in text.lower()
    widest = 0
    for line in _BR.split(str(text)):
        plain = html.unescape(_TAG.sub("", line))
        units = sum(_HELVETICA[ord(ch) - 32] if 32 <= ord(ch) <= 126 else 600 for ch in plain)
        widest = max(widest, units)
    return widest / 1000 * size * (1.07 if bold else 1.0)
