"""Streamlit-side building blocks: figure builders (data in, plotly figure out) and app wiring."""
