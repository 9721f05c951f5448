#!/usr/bin/env bash
# Set up a virtual environment (first time) and start the app on the bundled data.
# The study database is built from data/ on first start.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
exec .venv/bin/streamlit run app.py "$@"
