"""Storage and statistics of the Anlotinib Combination Explorer. Never imports Streamlit."""
