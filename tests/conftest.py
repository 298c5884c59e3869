import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REALDATA = Path(__file__).resolve().parent / "data" / "realdata"
SAMPLE_DATA = ROOT / "sample_data"

# Deterministic, colour-stable environment for every test (and for Textual snapshots).
os.environ.setdefault("TZ", "UTC")
os.environ.pop("LOGCONSOLE_DB", None)


@pytest.fixture
def db_path(tmp_path) -> str:
    return str(tmp_path / "index.db")


@pytest.fixture
def engine(db_path):
    from logconsole.store.db import open_db

    eng = open_db(db_path)
    yield eng
    eng.dispose()
