"""Where the project's files live."""
from pathlib import Path

ENGINE_DIR = Path(__file__).resolve().parent
ROOT = ENGINE_DIR.parent
DATA_DIR = ROOT / "data"
DEFAULT_DB = DATA_DIR / "explorer.duckdb"
