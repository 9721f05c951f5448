"""Plain-text helpers shared by the engine's display texts and the figures in components/:
word wrap, and estimates as the pages print them."""
from __future__ import annotations


def wrap_words(text: str, width: int) -> list[str]:
    """Greedy word wrap: lines of at most ``width`` characters unless a single word is longer
    (plotly's labels and annotations do not wrap by themselves). No lines for blank text."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    if line:
        lines.append(line)
    return lines


def _fmt(x: float | None, digits: int = 1) -> str:
    return "NR" if x is None else f"{x:.{digits}f}"


def median_text(median: float | None, ci: tuple[float | None, float | None]) -> str:
    """"9.1 mo (5.6–10.3)", "9.1 mo (5.6–NR)" or "not reached (8.2–NR)"."""
    lo, hi = ci
    tail = f" ({_fmt(lo)}–{_fmt(hi)})" if (lo is not None or hi is not None) else ""
    if median is None:
        return "not reached" + tail
    return f"{median:.1f} mo{tail}"


def hr_text(hr: float | None, lo: float | None, hi: float | None) -> str:
    if hr is None:
        return "not estimable"
    return f"{hr:.2f} ({_fmt(lo, 2)}–{_fmt(hi, 2)})"


def p_text(p: float | None) -> str:
    if p is None:
        return ""
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"
