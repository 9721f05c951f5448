"""Cross-study forest-style plots of the headline results: medians (months) and rates (percent)
with their CIs, one row per study arm grouped by tumor type, and a pooled diamond with its
prediction interval for pooled rates.

Drawing is done by the shared interval plot ``components.forest``; this module only turns the
rows of ``engine.evidence.headline_results`` / ``compare_results`` (and a pooled result) into forest
rows. Rows of uploaded cohorts (``origin == 'user'``) are drawn with the forest's ``user`` marker,
labelled "(user data)", and the figure gets a user-data badge, a legend and a footnote.
"""
from __future__ import annotations

import html

import pandas as pd
import plotly.graph_objects as go

from components.forest import ForestRow, empty_figure, forest_figure
from components.provenance import MARKER_COLORS, badge_annotation
from engine.evidence import FLAG_MARKERS, INCONSISTENT_MARKER, USER_LABEL_SUFFIX
from engine.text import wrap_words

COMPUTED_MARK = "*"
COMPUTED_FOOTNOTE = "* CI computed from reported counts (exact Clopper-Pearson); the paper prints none."
USER_FOOTNOTE = "▲ user data: computed here from the uploaded patient rows; not printed by any paper."
USER_METHOD = {
    "median": "User data medians: Kaplan-Meier, 95% CI log-log (as R survfit); NR = not reached.",
    "response": "User data rates: exact Clopper-Pearson; n = patients with a best response recorded.",
    "G3TRAE": "User data: patient rows carry no adverse-event grades, so no grade ≥3 TRAE rate.",
}
UNKNOWN_TUMOR = "Tumor type not recorded"


def _is_user(r) -> bool:
    return getattr(r, "origin", "reported") == "user"


def _kind(r) -> str:
    return "user" if _is_user(r) else "reported"


def arm_label(r) -> str:
    """Row label: the study's short label, plus what sets the arm apart when the study has several;
    an uploaded cohort's label ends in "(user data)"."""
    label = f"{r.short_label} · {r.arm_short}" if r.multi_arm else r.short_label
    # a user names the cohort (and its arms): plotly must show the name, not read it as markup
    return html.escape(label, quote=False) + USER_LABEL_SUFFIX if _is_user(r) else label


def _distinct_parts(labels: list[str]) -> dict[str, str]:
    """Each label without the words all labels start with ('3rd-gen EGFR TKI + anlotinib',
    '3rd-gen EGFR TKI alone' -> '+ anlotinib', 'alone')."""
    words = [lb.split() for lb in labels]
    common = 0
    while all(len(w) > common + 1 and w[common] == words[0][common] for w in words):
        common += 1
    return {lb: " ".join(w[common:]) for lb, w in zip(labels, words)}


def _hover(r) -> str:
    source = html.escape(r.source, quote=False) if _is_user(r) and r.source else r.source  # a user's file name
    parts = [f"source: {source}" if source else "", f"CI: {r.ci_basis}" if r.ci_basis else ""]
    if isinstance(r.flag, str) and r.flag:
        parts.append(f"flag: {r.flag}")
    if isinstance(r.note, str) and r.note:
        parts.append("<br>".join(wrap_words(r.note, 70)))
    return "<br>".join(p for p in parts if p)


def _prepared(headline: pd.DataFrame, endpoint: str) -> pd.DataFrame:
    arms = headline.groupby("study_id").arm_id.nunique()
    df = headline[headline.endpoint == endpoint].copy()
    df["multi_arm"] = df.study_id.map(arms) > 1
    short = {}
    for sid, sub in headline.groupby("study_id"):
        labels = list(dict.fromkeys(sub.arm_label))
        short.update({(sid, k): v for k, v in _distinct_parts(labels).items()})
    df["arm_short"] = [short[(s, a)] for s, a in zip(df.study_id, df.arm_label)]
    df["tumor_type"] = df.tumor_type.where(df.tumor_type.notna(), UNKNOWN_TUMOR)
    return df


def _grouped_rows(df: pd.DataFrame, make_row) -> list[ForestRow]:
    rows: list[ForestRow] = []
    for tumor, sub in df.groupby("tumor_type", sort=False):
        rows.append(ForestRow(label=str(tumor), header=True))
        rows.extend(make_row(r) for r in sub.itertuples())
    return rows


def _value_text(r) -> str:
    if _is_user(r):
        return r.text
    if r.basis != "reported":
        return "not reported"
    mark = COMPUTED_MARK if r.ci_basis.startswith("computed") else ""
    return f"{r.text}{mark}{r.markers}"


def median_rows(headline: pd.DataFrame, endpoint: str) -> list[ForestRow]:
    """Forest rows of one median endpoint (PFS or OS), in months."""
    def row(r) -> ForestRow:
        nr = set((r.not_reached or "").split(";")) - {""}
        return ForestRow(
            label=arm_label(r), kind=_kind(r), indent=1,
            estimate=None if "estimate" in nr or pd.isna(r.estimate) else r.estimate,
            ci_low=None if pd.isna(r.ci_low) else r.ci_low,
            ci_high=None if pd.isna(r.ci_high) else r.ci_high,
            left_text="" if pd.isna(r.n) else str(int(r.n)),
            value_text=_value_text(r), hover=_hover(r), group=r.study_id,
        )
    return _grouped_rows(_prepared(headline, endpoint), row)


def rate_rows(headline: pd.DataFrame, endpoint: str) -> list[ForestRow]:
    """Forest rows of one rate endpoint, in percent."""
    def row(r) -> ForestRow:
        pct = lambda x: None if x is None or pd.isna(x) else 100 * float(x)  # noqa: E731
        return ForestRow(
            label=arm_label(r), kind=_kind(r), indent=1,
            estimate=pct(r.estimate), ci_low=pct(r.ci_low), ci_high=pct(r.ci_high),
            left_text=f"{int(r.events)}/{int(r.n)}" if pd.notna(r.events) and pd.notna(r.n) else "",
            value_text=_value_text(r), hover=_hover(r), group=r.study_id,
        )
    return _grouped_rows(_prepared(headline, endpoint), row)


def _finish(fig: go.Figure, footnotes: list[str], badges=("reported",)) -> go.Figure:
    badges = list(dict.fromkeys(badges))
    for i, kind in enumerate(badges):
        fig.add_annotation({**badge_annotation(kind, x=0, y=1, yanchor="bottom"), "yshift": 4, "xshift": 150 * i})
    if footnotes:
        fig.add_annotation(
            text="<br>".join(footnotes), x=0, y=0, xref="paper", yref="paper", xanchor="left",
            yanchor="top", yshift=-40, showarrow=False, align="left", font=dict(size=11, color="#555"),
        )
        fig.update_layout(margin=dict(b=60 + 16 * len(footnotes)), height=fig.layout.height + 16 * len(footnotes))
    fig.update_layout(legend=dict(x=1, xanchor="right"))
    return fig


def _notes(rows: list[ForestRow], user_method: str = "") -> list[str]:
    texts = " ".join(r.value_text for r in rows)
    notes = []
    if COMPUTED_MARK in texts:
        notes.append(COMPUTED_FOOTNOTE)
    if FLAG_MARKERS["derived"] in texts:
        notes.append("‡ derived by the curators from printed values (hover for how).")
    if FLAG_MARKERS["ocr_corrected"] in texts:
        notes.append("† corrected OCR damage in the text copy (hover for what it showed).")
    if INCONSISTENT_MARKER in texts:
        notes.append("⚠ the paper's interval excludes its own estimate; drawn as printed (see Data notes).")
    if any(r.kind == "user" for r in rows):
        notes.append(USER_FOOTNOTE)
        if user_method:
            notes.append(user_method)
    return notes


def _badges(rows: list[ForestRow]) -> tuple[str, ...]:
    """One badge per kind of data among the rows (reported first), 'reported' when there are none."""
    kinds = [k for k in ("reported", "user") if any(r.kind == k and not r.header for r in rows)]
    return tuple(kinds) or ("reported",)


def _legend(rows: list[ForestRow]) -> bool:
    """A marker legend when markers of more than one kind are drawn."""
    return len({r.kind for r in rows if not r.header and r.estimate is not None}) > 1


def _empty(rows: list[ForestRow], message: str, title: str | None) -> go.Figure:
    """No estimate to draw: say so, and write out what the uploaded cohorts' rows say instead."""
    lines = [message] + [f"{r.label}: {r.value_text}" for r in rows if r.kind == "user" and not r.header]
    fig = empty_figure("<br>".join(lines))
    if title:
        fig.update_layout(title=dict(text=title, x=0, xanchor="left"), margin=dict(t=40))
    return fig


def median_plot(headline: pd.DataFrame, endpoint: str, title: str | None = None) -> go.Figure:
    rows = median_rows(headline, endpoint)
    if not any(r.estimate is not None for r in rows):
        return _empty(rows, f"No median {endpoint} is reported by the chosen studies.", title)
    fig = forest_figure(
        rows, scale="linear", reference=None, x_title=f"Median {endpoint}, months (95% CI)",
        left_header="n", value_header="Median (95% CI)", title=title, legend=_legend(rows),
        label_width=0.32, value_width=0.2,
    )
    lo, hi = fig.layout.xaxis.range
    fig.update_xaxes(range=[0, hi])
    return _finish(fig, _notes(rows, USER_METHOD["median"]), badges=_badges(rows))


def rate_plot(headline: pd.DataFrame, endpoint: str, title: str | None = None) -> go.Figure:
    rows = rate_rows(headline, endpoint)
    if not any(r.estimate is not None for r in rows):
        what = title[0].lower() + title[1:] if title else endpoint
        return _empty(rows, f"No {what} is reported by the chosen studies.", title)
    fig = forest_figure(
        rows, scale="linear", reference=None, x_title="Percent of patients (95% CI)",
        left_header="events/n", value_header="Rate (95% CI)", title=title, legend=_legend(rows),
        label_width=0.32, value_width=0.2,
    )
    fig.update_xaxes(range=[0, 100], ticksuffix="%")
    method = USER_METHOD["G3TRAE" if endpoint == "G3TRAE" else "response"]
    return _finish(fig, _notes(rows, method), badges=_badges(rows))


def pooled_plot(headline: pd.DataFrame, endpoint: str, pooled, title: str | None = None) -> go.Figure:
    """The pooled cohorts' rows, then the pooled estimate as a diamond and its prediction interval
    as a dashed line. ``pooled`` is an ``engine.evidence.PooledRate``."""
    chosen = headline[headline.study_id.isin(list(pooled.study_ids)) & (headline.endpoint == endpoint)
                      & ~headline.is_control]
    rows = rate_rows(chosen, endpoint)
    rows = [r for r in rows if not r.header]
    for r in rows:
        r.indent = 0
    pct = 100.0
    rows.append(ForestRow(
        label=f"Pooled, random effects ({pooled.method})", kind="pooled",
        estimate=pct * pooled.estimate, ci_low=pct * pooled.ci_low, ci_high=pct * pooled.ci_high,
        left_text=f"{pooled.events}/{pooled.n}",
        value_text=f"{pct * pooled.estimate:.1f}% ({pct * pooled.ci_low:.1f}–{pct * pooled.ci_high:.1f}%)",
        hover=f"I² {pooled.i2_text} · τ² {pooled.tau2:.3g} · {pooled.k} cohorts<br>{pooled.method_text}",
    ))
    has_pi = pooled.pi_low is not None and pooled.pi_high is not None
    if has_pi:
        rows.append(ForestRow(
            label="95% prediction interval", kind="pooled",
            value_text=f"{pct * pooled.pi_low:.1f}–{pct * pooled.pi_high:.1f}%",
        ))
    fig = forest_figure(
        rows, scale="linear", reference=None, x_title="Percent of patients (95% CI)",
        left_header="events/n", value_header="Rate (95% CI)", title=title, legend=False,
        label_width=0.32, value_width=0.2,
    )
    if has_pi:
        fig.add_trace(go.Scatter(
            x=[pct * pooled.pi_low, pct * pooled.pi_high], y=[1, 1], mode="lines+markers",
            line=dict(color=MARKER_COLORS["pooled"], width=2, dash="dash"),
            marker=dict(symbol="line-ns", size=12, line=dict(width=2, color=MARKER_COLORS["pooled"])),
            hoverinfo="text", hovertext=f"95% prediction interval: {pct * pooled.pi_low:.1f}–{pct * pooled.pi_high:.1f}%",
            showlegend=False,
        ))
    fig.update_xaxes(range=[0, 100], ticksuffix="%")
    sep = (2 if has_pi else 1) + 0.5  # rows run top to bottom from y = len(rows) down to 1
    fig.add_shape(type="line", x0=0, x1=1, xref="paper", y0=sep, y1=sep, yref="y",
                  line=dict(color="#bbb", width=1))
    return _finish(fig, _notes(rows), badges=("reported", "pooled"))
