"""Adverse events as horizontal bars: one row per harmonized term, one bar per study arm.

Each bar shows the any-grade incidence as a light bar with the grade >=3 incidence as a dark bar
drawn over it from zero, both as percent of the arm's safety population. Where a paper gives only
grade >=3 for a term, only the dark bar is drawn; a term an arm does not report has no bar (it is
not a zero). The figure takes the tidy rows built by ``engine.explorer_data.ae_rows``:

    term, series, any_pct, g3_pct, any_text, g3_text, hover

in the order the rows should appear (top to bottom) and the series (arms) in legend order.
"""
from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from components.km_plot import PALETTE
from components.provenance import badge_annotation, make_figure, rgba, text_width
from engine.results import finite_or_none
from engine.text import wrap_words


def ae_figure(rows: pd.DataFrame, terms: list[str], series: list[str], *, font_scale: float = 1.0,
              height: int | None = None, legend_wrap: int = 42, validate: bool = True) -> go.Figure:
    """Bars for ``terms`` (top to bottom) x ``series`` (arms, legend order). ``validate=False``
    skips plotly's property validation (the page's hot path; the tests validate the same code)."""
    fs = font_scale
    base = 12 * fs
    traces: list[dict] = []
    n_series = max(1, len(series))
    # reversed category order so the first term is on top
    y_order = list(reversed(terms))
    by_series = {s: sub.drop_duplicates("term").set_index("term") for s, sub in rows.groupby("series", sort=False)}
    for j, s in enumerate(series):
        color = PALETTE[j % len(PALETTE)]
        sub = by_series.get(s)
        if sub is None:
            continue
        ys = [t for t in y_order if t in sub.index]
        if not ys:
            continue
        sub = sub.loc[ys]
        any_x = [finite_or_none(v) for v in sub["any_pct"]]
        g3_x = [finite_or_none(v) for v in sub["g3_pct"]]
        hover = list(sub["hover"])
        label_text = [" / ".join(p for p in (a, g) if p) for a, g in zip(sub["any_text"], sub["g3_text"])]
        # any grade (light) with the label at its end (labels only while bars are thick enough)
        traces.append(dict(
            type="bar", y=ys, x=[a if a is not None else 0 for a in any_x], orientation="h",
            name="<br>".join(wrap_words(s, legend_wrap)), marker=dict(color=rgba(color, 0.33), line=dict(color=color, width=1)),
            offsetgroup=str(j), legendgroup=s, text=label_text if len(series) <= 2 else None,
            textposition="outside", textfont=dict(size=base * 0.78, color="#333"), cliponaxis=False,
            customdata=hover, hovertemplate="%{customdata}<extra></extra>",
        ))
        # grade >= 3 (solid), same slot, drawn over the light bar
        traces.append(dict(
            type="bar", y=ys, x=[g if g is not None else 0 for g in g3_x], orientation="h",
            name=f"{s} · grade ≥3", marker=dict(color=color), offsetgroup=str(j), legendgroup=s,
            showlegend=False, customdata=hover, hovertemplate="%{customdata}<extra></extra>",
        ))
    vals = [finite_or_none(v) for v in list(rows.get("any_pct", [])) + list(rows.get("g3_pct", []))]
    vals = [v for v in vals if v is not None]
    top = min(100.0, max(vals) * 1.35 + 8) if vals else 100.0
    n_terms = max(1, len(terms))
    legend_px = int((17 * sum(max(1, len(wrap_words(x, legend_wrap))) for x in series) + 3 * len(series) + 6) * fs)
    badge = badge_annotation("reported", x=0, y=1, xanchor="left", yanchor="bottom", size=int(base * 0.82))
    badge["yshift"] = legend_px + 2
    # a left margin that fits the longest term, so that automargin has nothing to grow (growing
    # a margin makes plotly.js draw the figure twice)
    left = int(8 + max((text_width(str(t), base * 0.9) for t in terms), default=0) + 8)
    layout = dict(
        # one slot per arm ("group"); within a slot the grade >=3 bar lies over the any-grade bar
        barmode="group" if n_series > 1 else "overlay", bargap=0.22, bargroupgap=0.05,
        height=height or int(max(300, (90 + n_terms * (10 + 11 * n_series)) * fs)),
        margin=dict(l=left, r=16, t=4 * fs + legend_px + 26 * fs, b=62 * fs),
        plot_bgcolor="white", paper_bgcolor="white",
        font=dict(size=base, family="Inter, Helvetica, Arial, sans-serif"),
        xaxis=dict(range=[0, top], ticksuffix="%", gridcolor="#eee", zeroline=True, zerolinecolor="#999",
                   title=dict(text="Patients with the event (% of safety population)", font=dict(size=base * 0.9),
                              standoff=4),
                   tickfont=dict(size=base * 0.85), side="bottom"),
        yaxis=dict(categoryorder="array", categoryarray=y_order, tickfont=dict(size=base * 0.9), automargin=True),
        legend=dict(orientation="v", x=0, xanchor="left", y=1.0, yanchor="bottom", font=dict(size=base * 0.85),
                    tracegroupgap=2, itemclick="toggle", itemdoubleclick="toggleothers"),
        hoverlabel=dict(font=dict(size=base * 0.9)),
        annotations=[
            dict(text="light: any grade · solid: grade ≥3 · labels: any / ≥3 (%)", x=1, y=0, xref="paper",
                 yref="paper", xanchor="right", yanchor="top", yshift=-42 * fs, showarrow=False,
                 font=dict(size=base * 0.75, color="#666")),
            badge,
        ],
    )
    return make_figure(traces, layout, validate=validate)
