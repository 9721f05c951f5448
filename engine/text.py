"""Plain-text helpers shared by the engine's display texts and the figures in components/."""
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
