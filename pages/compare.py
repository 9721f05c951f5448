"""Compare studies: headline results side by side (published studies as reported, uploaded cohorts
computed from their patient rows and marked as user data), and pooled rates of published cohorts
where pooling makes sense."""
import pandas as pd
import streamlit as st

from components.estimate_plot import median_plot, pooled_plot, rate_plot
from components.provenance import badge_html
from components.session import db
from engine import evidence as ev
from components.frame import ensure_app_frame

ensure_app_frame()

st.title("Compare studies")
st.caption(
    "Headline results of each study arm as **reported** by its paper (hover a row for the source "
    "and notes). Where a paper prints no CI for a rate, the CI is *computed from reported counts* "
    f"({ev.CI_COMPUTED_METHOD}) and marked *. The studies differ in tumor, line, partner drug and "
    "design: rows side by side are not a randomized comparison."
)

con = db()
cohorts = ev.compare_cohorts(con)
labels = dict(zip(cohorts.study_id, cohorts.option_label))
user_ids = set(cohorts.study_id[cohorts.kind == "user"])
c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
chosen = c1.multiselect("Studies", list(labels), default=list(labels), format_func=labels.get, key="compare_studies",
                        help="Published studies, and the cohorts uploaded on the My data page (user data).")
show_control = c2.toggle("Show control arms", value=True, key="compare_controls",
                         help="ALTER-L058 also reports a TKI-alone control arm.")
if not chosen:
    st.info("Choose at least one study.")
    st.stop()

headline = ev.compare_results(con, chosen)
if not show_control:
    headline = headline[~headline.is_control.astype(bool)]
chosen_users = [s for s in chosen if s in user_ids]
if chosen_users:
    st.markdown(
        badge_html("user") + "&nbsp; Rows marked ▲ *(user data)* are uploaded cohorts, computed here from "
        "their stored patient rows, not printed by any paper: median PFS/OS by Kaplan-Meier "
        f"({ev.USER_MEDIAN_CI}; *not reached* when the curve stays above 50%); "
        f"ORR and DCR with {ev.USER_RATE_METHOD}, {ev.USER_RATE_DENOMINATOR}. "
        f"Grade ≥3 TRAE rate: {ev.NOT_AVAILABLE_FOR_USER} (patient rows carry no adverse-event grades).",
        unsafe_allow_html=True,
    )

st.subheader("Median survival")
left, right = st.columns(2, gap="large")
for col, endpoint in ((left, "PFS"), (right, "OS")):
    col.plotly_chart(median_plot(headline, endpoint, title=f"Median {endpoint}"), key=f"median_{endpoint}",
                     config={"displaylogo": False})

st.subheader("Response and toxicity rates")
grid = st.columns(2, gap="large") + st.columns(2, gap="large")
for col, endpoint in zip(grid, ev.RATE_ENDPOINTS):
    col.plotly_chart(rate_plot(headline, endpoint, title=ev.HEADLINE[endpoint][0]), key=f"rate_{endpoint}",
                     config={"displaylogo": False})
with grid[3]:
    st.markdown("**What the rates mean**")
    for endpoint in ev.RATE_ENDPOINTS:
        st.markdown(f"- **{ev.HEADLINE[endpoint][0]}**: {ev.RATE_DEFINITIONS[endpoint]}.")

st.subheader("Pooled rate across chosen cohorts")
st.markdown(badge_html("pooled") + "&nbsp; " + ev.POOLING_CAVEAT, unsafe_allow_html=True)
p1, p2, p3 = st.columns([1, 3, 1])
endpoint = p1.selectbox("Rate", list(ev.RATE_ENDPOINTS), format_func=lambda e: ev.HEADLINE[e][0], key="pool_endpoint")
counts = ev.rate_counts(con, endpoint)
eligible = counts[counts.meets_definition]
pool_labels = dict(zip(eligible.study_id, eligible.short_label))
escc = [s for s in pool_labels if s in set(cohorts.study_id[(cohorts.kind == "published") & (cohorts.tumor_type == "ESCC")])]
pool_ids = p2.multiselect(
    "Cohorts to pool (experimental arms)", list(pool_labels), default=escc if len(escc) >= 2 else [],
    format_func=pool_labels.get, key=f"pool_studies_{endpoint}",
    help="Only published cohorts that report this rate as counts over the whole arm are offered; "
         "uploaded cohorts (user data) are never pooled.",
)
method = p3.selectbox("τ² estimator", list(ev.POOLING_METHODS), format_func=lambda m: f"{m} ({ev.POOLING_METHODS[m]})",
                      key="pool_method")
left_out = counts[~counts.meets_definition]
if not left_out.empty:
    st.caption("Not offered for pooling: " + "; ".join(f"{r.short_label} ({r.why_not})" for r in left_out.itertuples()))
if user_ids:
    st.caption(ev.USER_POOLING_NOTE)
st.caption(f"Shared definition: {ev.RATE_DEFINITIONS[endpoint]}.")

check = ev.pooling_check(counts, pool_ids)
if not check.ok:
    st.info("Pooling is not offered for this selection: " + "; ".join(check.reasons) + ".")
else:
    pooled = ev.pool_rates(check.cohorts, endpoint, method)
    m = st.columns(5)
    m[0].metric(f"Pooled {endpoint} ({pooled.k} cohorts)", f"{100 * pooled.estimate:.1f}%")
    m[1].metric("95% CI", f"{100 * pooled.ci_low:.1f}–{100 * pooled.ci_high:.1f}%")
    m[2].metric("95% prediction interval",
                "not defined (k < 3)" if pooled.pi_low is None else f"{100 * pooled.pi_low:.1f}–{100 * pooled.pi_high:.1f}%")
    m[3].metric("I²", pooled.i2_text, help=f"Cochran's Q = {pooled.q:.2f}, p = {pooled.q_p:.3f}")
    m[4].metric("τ² (logit scale)", f"{pooled.tau2:.3f}")
    st.plotly_chart(pooled_plot(check.cohorts, endpoint, pooled,
                                title=f"{ev.HEADLINE[endpoint][0]}: pooled"),
                    key="pooled_chart", config={"displaylogo": False})
    st.caption(f"**Method:** {pooled.method_text}")
    if pooled.pi_low is None:
        st.caption("With only two cohorts the between-study variance is barely estimable and no prediction "
                   "interval can be given; read the pooled value as a description of these two cohorts.")
    with st.expander("Pooled data"):
        st.dataframe(
            pd.DataFrame({
                "Cohort": check.cohorts.short_label, "Arm": check.cohorts.arm_label,
                "Events": check.cohorts.events.astype(int), "n": check.cohorts.n.astype(int),
                "Reported rate": check.cohorts.text, "Source": check.cohorts.source,
            }),
            hide_index=True, key="pooled_data",
        )
