"""Kaplan–Meier figure in the style clinicians preferred in the KMunicate study.

Step curves with shaded 95% confidence bands, censoring ticks, dotted median guides, and under the
plot a table of numbers at risk, cumulative events and cumulative censored on the same time grid
as the x axis. The table is a subplot sharing the x axis, so its columns stay under the ticks at
any width (risk tables drawn as separate figures drift out of line).

Input is a :class:`engine.explorer_data.KMPanel` (curves, time grid, log-rank and HR already
computed by the engine); this module only draws.
"""
from __future__ import annotations

import plotly.graph_objects as go

from components.provenance import badge_annotation, make_figure, rgba, text_width
from engine.text import wrap_words

PALETTE = ("#1f5fa8", "#d1495b", "#2a9d5c", "#8e5cb8", "#e08a1e", "#3a3a3a", "#17a2b8", "#a0522d")


def curve_colors(n: int) -> list[str]:
    return [PALETTE[i % len(PALETTE)] for i in range(n)]


def km_figure(panel, *, font_scale: float = 1.0, height: int | None = None,
              show_ci: bool = True, extended_table: bool | None = None, legend_wrap: int = 64,
              validate: bool = True) -> go.Figure:
    """The KM figure for ``panel``.

    ``extended_table``: at risk, cumulative events and cumulative censored per curve (KMunicate);
    by default on for up to three curves, otherwise only numbers at risk (the CSV has the rest).
    ``validate=False`` skips plotly's property validation (the page's hot path; the same code is
    validated by the tests).
    """
    fs = font_scale
    base = 12 * fs
    curves = panel.curves
    colors = curve_colors(len(curves))
    if extended_table is None:
        extended_table = len(curves) <= 3
    table_rows_per_curve = 3 if extended_table else 1
    n_table_rows = max(1, len(curves) * table_rows_per_curve)
    table_frac = min(0.5, 0.07 + 0.043 * n_table_rows)

    gap = 0.09
    plot_domain = [table_frac + gap / 2, 1.0]
    table_domain = [0.0, max(0.01, table_frac - gap / 2)]
    legend_lines = sum(max(1, len(wrap_words(f"{c.label} · median {c.median_text} ⚠", legend_wrap)))
                       for c in curves)
    legend_px = int((16 * legend_lines + 4 * len(curves) + 6) * fs)
    stats_lines = sum(1 for t in (panel.hr_text, panel.logrank_text) if t)
    stats_px = int(17 * stats_lines * fs)
    xmax = panel.grid[-1] if panel.grid else 1.0

    # One pass: plain dicts, validated once when the Figure is made (adding traces and
    # annotations one by one costs a validation and a copy each time).
    traces: list[dict] = []
    for c, color in zip(curves, colors):
        name = "<br>".join(wrap_words(f"{c.label} · median {c.median_text}" + (" ⚠" if c.small else ""), legend_wrap))
        if show_ci and c.ci_low and c.ci_high:
            traces.append(dict(type="scatter", x=c.time, y=c.ci_high, mode="lines", line=dict(width=0, shape="hv"),
                               hoverinfo="skip", showlegend=False, legendgroup=c.key))
            traces.append(dict(type="scatter", x=c.time, y=c.ci_low, mode="lines", line=dict(width=0, shape="hv"),
                               fill="tonexty", fillcolor=rgba(color, 0.16), hoverinfo="skip",
                               showlegend=False, legendgroup=c.key))
        traces.append(dict(
            type="scatter", x=c.time, y=c.surv, mode="lines", line=dict(color=color, width=2.4 * fs, shape="hv"),
            name=name, legendgroup=c.key, meta={"median": c.median, "key": c.key},
            customdata=[[lo, hi] for lo, hi in zip(c.ci_low or [None] * len(c.time), c.ci_high or [None] * len(c.time))],
            hovertemplate=(f"<b>{c.label}</b><br>%{{x:.1f}} months: %{{y:.0%}}"
                           "<br>95% CI %{customdata[0]:.0%}–%{customdata[1]:.0%}<extra></extra>"),
        ))
        if c.censor_time:
            traces.append(dict(
                type="scatter", x=c.censor_time, y=c.censor_surv, mode="markers",
                marker=dict(symbol="line-ns-open", size=8 * fs, color=color, line=dict(width=1.5)),
                hoverinfo="skip", showlegend=False, legendgroup=c.key,
            ))
        if c.median is not None:
            traces.append(dict(
                type="scatter", x=[0, c.median, c.median], y=[0.5, 0.5, 0], mode="lines",
                line=dict(color=color, width=1, dash="dot"), hoverinfo="skip", showlegend=False,
                legendgroup=c.key,
            ))

    # numbers-at-risk table: one text trace on the shared time grid, one line per count
    ticktext, tickvals = [], []
    tx, ty, tt, tc = [], [], [], []
    y = 0
    for c, color in zip(curves, colors):
        t = c.table
        rows = [("At risk", t["at_risk"])]
        if extended_table:
            rows += [("Events", t["events_cum"]), ("Censored", t["censored_cum"])]
        for k, (what, values) in enumerate(rows):
            y -= 1
            if len(curves) == 1:
                tick = what
            elif extended_table:
                tick = f'<span style="color:{color}"><b>{what}</b></span>' if k == 0 else what
            else:
                tick = f'<span style="color:{color}"><b>{c.short_label}</b></span>'
            ticktext.append(tick)
            tickvals.append(y)
            tx += [float(v) for v in t["time"]]
            ty += [y] * len(t)
            tt += [str(int(v)) for v in values]
            tc += [color if k == 0 else "#444"] * len(t)
    if tx:
        traces.append(dict(type="scatter", x=tx, y=ty, text=tt, mode="text", xaxis="x2", yaxis="y2",
                           textfont=dict(size=base * 0.9, color=tc), hoverinfo="skip", showlegend=False,
                           cliponaxis=False, name="risk table"))
    for tr in traces:
        tr.setdefault("xaxis", "x")
        tr.setdefault("yaxis", "y")

    # Margins that fit the labels, so that plotly's automargin has nothing to grow (growing a
    # margin makes plotly.js draw the figure twice): left, the y tick labels and the rotated y
    # title, or the table's row labels; right, half of the last time label.
    y_need = text_width("100%", base * 0.9) + 3 + 4 + base * 1.1
    table_need = max((text_width(t, base * 0.82) for t in ticktext), default=0) + 3
    left = int(12 + max(y_need, table_need))
    right = int(max(12, text_width(f"{xmax:g}", base * 0.9) / 2 + 8))

    # top margin, stacked from the top: provenance badge, test results, legend
    annotations = []
    stats = "<br>".join(t for t in (panel.hr_text, panel.logrank_text) if t)
    if stats:
        annotations.append(dict(
            text=stats, x=0, y=1, xref="paper", yref="paper", xanchor="left", yanchor="bottom",
            yshift=legend_px + 2, showarrow=False, align="left", font=dict(size=base * 0.9, color="#222"),
        ))
    badge = badge_annotation(panel.kind, x=0.0, y=1.0, xanchor="left", yanchor="bottom", size=int(base * 0.82))
    badge.update(xref="paper", yref="paper", yshift=legend_px + stats_px + 4)
    annotations.append(badge)

    layout = dict(
        xaxis=dict(domain=[0, 1], anchor="y", range=[-0.02 * xmax, xmax * 1.02], tickvals=panel.grid,
                   showgrid=True, gridcolor="#eee", zeroline=False, tickfont=dict(size=base * 0.9),
                   showticklabels=True, ticks="outside", automargin=True),
        xaxis2=dict(domain=[0, 1], anchor="y2", matches="x", tickvals=panel.grid, showgrid=False,
                    zeroline=False, showticklabels=False,
                    title=dict(text="Months since start of treatment", font=dict(size=base * 0.95), standoff=2)),
        yaxis=dict(domain=plot_domain, anchor="x", range=[0, 1.03], tickformat=".0%",
                   tickvals=[0, 0.25, 0.5, 0.75, 1.0], gridcolor="#eee", zeroline=False,
                   tickfont=dict(size=base * 0.9), automargin=True,
                   title=dict(text=panel.y_title, font=dict(size=base * 0.95), standoff=4)),
        yaxis2=dict(domain=table_domain, anchor="x2", range=[y - 0.6, -0.4], tickvals=tickvals, ticktext=ticktext,
                    showgrid=False, zeroline=False, tickfont=dict(size=base * 0.82), fixedrange=True,
                    automargin=True),
        annotations=annotations,
        height=height or int(430 * fs + 17 * fs * n_table_rows + legend_px + stats_px),
        margin=dict(l=left, r=right, t=4 * fs + legend_px + stats_px + 26 * fs, b=36 * fs),
        plot_bgcolor="white", paper_bgcolor="white",
        font=dict(size=base, family="Inter, Helvetica, Arial, sans-serif"),
        legend=dict(x=0, xanchor="left", y=1, yanchor="bottom", yref="paper", orientation="v",
                    font=dict(size=base * 0.88), bgcolor="rgba(255,255,255,0)", tracegroupgap=3,
                    itemclick="toggle", itemdoubleclick="toggleothers"),
        showlegend=True,
        hoverlabel=dict(font=dict(size=base * 0.9)),
    )
    return make_figure(traces, layout, validate=validate)


__all__ = ["km_figure", "curve_colors", "PALETTE"]
