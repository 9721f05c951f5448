"""python -m engine.ingest FILE --name NAME [--db PATH] [--sheet S] [--mapping JSON]"""
from engine.ingest.cli import main

raise SystemExit(main())
