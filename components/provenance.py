"""Where a number comes from, said the same way on every figure and page.

Three kinds of data reach the screen:

* ``reported``: printed in a paper (table, figure caption or text), shown as stored;
* ``reconstructed``: patient rows rebuilt from a paper's published summaries (curves, medians,
  numbers at risk, counts), so every estimate computed from them is an approximation;
* ``user``: patient rows a user uploaded.

This module holds the words, colours and marker shapes for those kinds, badges (HTML for the
page, plotly annotations for figures), and the footnote block. Pure functions, no Streamlit.
"""
from __future__ import annotations

import html
from typing import Iterable

KINDS = ("reported", "reconstructed", "user", "pooled")

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


def wrap(text: str, width: int = 110) -> list[str]:
    """Greedy word wrap (figure annotations do not wrap by themselves)."""
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    if line:
        lines.append(line)
    return lines
