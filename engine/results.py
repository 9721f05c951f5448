"""Small helpers shared by the statistics modules.

Every estimator in ``engine`` returns a result object with ``estimable`` (bool) and ``reason``
(str). Degenerate input never raises and never leaks NaN into fields a plot would draw:
undefined values are ``None``. Only programming/validation errors (negative times, events not
in {0, 1}, x > n, ...) raise ``ValueError``.
"""
from __future__ import annotations

import math
from typing import Any


def not_estimable(reason: str) -> str:
    """The canonical wording of a 'not estimable' reason, e.g. ``not estimable: no events``."""
    return f"not estimable: {reason}"


def finite_or_none(value: Any) -> float | None:
    """``float(value)`` when it is a finite number, else ``None`` (R's NA, NaN, Inf)."""
    if value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def label(value: Any) -> str:
    """A group level as text for messages: ``'yes'``."""
    return repr(value) if isinstance(value, str) else repr(str(value))
