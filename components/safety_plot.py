"""Adverse-event figures: harmonized AE terms x study arms, any grade next to grade >=3.

The builders take the long incidence frame of ``engine.evidence.ae_incidence`` (one row per arm,
harmonized term and grade) plus the rows and columns to show, and return a plotly figure. A cell
the paper does not report stays empty (grey), never zero. Hover shows the paper's original
term(s), the count over the denominator and any curation flag.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from components.ae_chart import ae_figure
from components.provenance import badge_annotation
from engine.text import wrap_words

GRADE_TITLES = {"any": "Any grade", ">=3": "Grade ≥3"}
NOT_REPORTED_FILL = "#e9ecef"


def _cells(incidence: pd.DataFrame, grade: str, terms, columns):
    """Matrices (terms x columns) of percent, display text and hover text for one grade."""
    sub = incidence[incidence.grade == grade].set_index(["term_harmonized", "column"])
    z = np.full((len(terms), len(columns)), np.nan)
    text = [["" for _ in columns] for _ in terms]
    hover = [["" for _ in columns] for _ in terms]
    for i, term in enumerate(terms):
        for j, col in enumerate(columns):
            key = (term, col)
            if key not in sub.index:
                hover[i][j] = f"<b>{term}</b><br>{col}<br>{GRADE_TITLES[grade]}: not reported"
                continue
            r = sub.loc[key]
            if isinstance(r, pd.DataFrame):
                r = r.iloc[0]
            if pd.isna(r.percent):
                hover[i][j] = f"<b>{term}</b><br>{col}<br>{GRADE_TITLES[grade]}: not reported"
                continue
            z[i, j] = r.percent
            text[i][j] = f"{r.percent:.0f}{r.markers}" if r.percent >= 10 or r.percent == 0 else f"{r.percent:.1f}{r.markers}"
            several = f"highest of {r.n_terms} listed terms<br>" if r.n_terms > 1 else ""
            basis = "" if r.percent_basis == "printed" else " (percent = n / denominator)"
            note = "<br><i>" + "<br>".join(wrap_words(r.notes, 70)) + "</i>" if isinstance(r.notes, str) and r.notes else ""
            paper_terms = "<br>".join(f"paper's term: {t}" for t in r.terms.split(" · "))
            hover[i][j] = (
                f"<b>{term}</b> · {GRADE_TITLES[grade]}<br>{col}<br>{several}"
                f"{paper_terms}{basis}<br>source: {r.source}{note}"
            )
    return z, text, hover


# One colour band per grade in a single heatmap trace: any grade in oranges, grade >=3 in purples.
_BANDS = {"any": (0.0, 0.49), ">=3": (0.51, 1.0)}
_BAND_SCALE = [
    [0.0, "#fff5eb"], [0.49, "#b33c00"],
    [0.49, "#b33c00"], [0.51, "#f5f0fa"],
    [0.51, "#f5f0fa"], [1.0, "#4a1486"],
]


def wrapped_label(column: str, width: int = 16) -> str:
    """Column heading wrapped onto short lines for a figure axis, the denominator on its own line."""
    name, _, n = column.partition(" (N=")
    return "<br>".join(wrap_words(name.replace(": ", " · "), width)) + (f"<br>(N={n}" if n else "")


def ae_heatmap(incidence: pd.DataFrame, terms, columns, grades=("any", ">=3")) -> go.Figure:
    """Annotated heatmap: rows = harmonized terms (top to bottom in the given order), columns =
    arms with their denominators, each arm split into any grade and grade >=3 next to each other.
    The incidence percent is written in every reported cell. Any grade is shaded on 0-100%,
    grade >=3 on 0 to its highest shown value, in a second colour."""
    terms, columns = list(terms), list(columns)
    heads = [wrapped_label(c) for c in columns]
    zs, texts, hovers = [], [], []
    for grade in grades:
        z, text, hover = _cells(incidence, grade, terms, columns)
        lo, hi = _BANDS[grade]
        top = 100.0 if grade == "any" else max(10.0, float(np.nanmax(z)) if np.isfinite(z).any() else 10.0)
        zs.append(lo + (hi - lo) * np.clip(z, 0, top) / top)
        texts.append(np.array(text, dtype=object))
        hovers.append(np.array(hover, dtype=object))
    # interleave the grades column by column: arm1 any, arm1 >=3, arm2 any, ...
    k = len(grades)
    z = np.empty((len(terms), len(columns) * k))
    text = np.empty(z.shape, dtype=object)
    hover = np.empty(z.shape, dtype=object)
    for g in range(k):
        z[:, g::k], text[:, g::k], hover[:, g::k] = zs[g], texts[g], hovers[g]
    if k > 1:
        x = [[h for h in heads for _ in grades], [GRADE_TITLES[g] for _ in heads for g in grades]]
    else:
        x = [f"{h}<br>{GRADE_TITLES[grades[0]]}" for h in heads]
    fig = go.Figure(
        go.Heatmap(
            z=z, x=x, y=terms, text=text, texttemplate="%{text}", textfont={"size": 12},
            customdata=hover, hovertemplate="%{customdata}<extra></extra>",
            colorscale=_BAND_SCALE, zmin=0, zmax=1, showscale=False, xgap=2, ygap=2,
        )
    )
    fig.update_xaxes(side="top", tickangle=0, showgrid=False, tickfont=dict(size=11))
    fig.update_yaxes(autorange="reversed", showgrid=False, tickfont=dict(size=12))
    fig.update_layout(
        height=max(320, 190 + 26 * len(terms)), margin=dict(l=10, r=10, t=150, b=40),
        plot_bgcolor=NOT_REPORTED_FILL, font=dict(size=12),
    )
    fig.add_annotation({**badge_annotation("reported", x=0, y=0, yanchor="top"), "yshift": -6})
    fig.add_annotation(
        text="Percent of the arm's safety population · any grade shaded 0-100% (orange), grade ≥3 "
        "shaded 0 to its highest value (purple) · grey: not reported",
        x=1, y=0, xref="paper", yref="paper", xanchor="right", yanchor="top", yshift=-6,
        showarrow=False, font=dict(size=11, color="#555"),
    )
    return fig


def ae_bar_rows(incidence: pd.DataFrame, terms, columns) -> pd.DataFrame:
    """The incidence as the tidy rows ``components.ae_chart.ae_figure`` draws (term, series,
    any_pct, g3_pct, any_text, g3_text, hover)."""
    terms, columns = list(terms), list(columns)
    z_any, t_any, h_any = _cells(incidence, "any", terms, columns)
    z_g3, t_g3, h_g3 = _cells(incidence, ">=3", terms, columns)
    recs = []
    for i, term in enumerate(terms):
        for j, col in enumerate(columns):
            if np.isnan(z_any[i, j]) and np.isnan(z_g3[i, j]):
                continue
            recs.append(dict(
                term=term, series=col, any_pct=z_any[i, j], g3_pct=z_g3[i, j],
                any_text=t_any[i][j], g3_text=t_g3[i][j], hover=f"{h_any[i][j]}<br><br>{h_g3[i][j]}",
            ))
    return pd.DataFrame(recs, columns=["term", "series", "any_pct", "g3_pct", "any_text", "g3_text", "hover"])


def ae_bars(incidence: pd.DataFrame, terms, columns) -> go.Figure:
    """Grouped horizontal bars (the Explorer's AE chart): one bar per arm and term, any grade light
    with grade >=3 solid over it, both percents written at the bar's end. No bar = not reported."""
    return ae_figure(ae_bar_rows(incidence, terms, columns), list(terms), list(columns))  # carries its own badge
