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


# ------------------------------------------------------------------ engines
#
# Engine-independent tests run on SQLite and on a real PostgreSQL server.  `.ci/run`
# starts a throwaway cluster and exports its URL in LOGCONSOLE_TEST_PG; locally:
#     eval "$(.ci/pg_cluster.sh start)"   ...   .ci/pg_cluster.sh stop
PG_URL = os.environ.get("LOGCONSOLE_TEST_PG")
PG_SKIP = ("LOGCONSOLE_TEST_PG is not set: no PostgreSQL server to test against "
           "(.ci/run starts one; locally `eval \"$(.ci/pg_cluster.sh start)\"`)")
ENGINES = ["sqlite", "postgresql"]


def new_pg_database() -> str:
    """A new, empty database on the test server; returns its URL."""
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = "lc_" + uuid.uuid4().hex[:16]
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def drop_pg_database(url: str) -> None:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def index_target(kind: str, directory) -> str:
    """Where a test's index lives on engine *kind*: a file in *directory* or a new database."""
    if kind == "postgresql":
        if not PG_URL:
            pytest.skip(PG_SKIP)
        return new_pg_database()
    return str(Path(directory) / "index.db")


def drop_target(target: str) -> None:
    if "://" in target:
        drop_pg_database(target)


@pytest.fixture
def pg_url():
    """A new database on the test PostgreSQL server (skips without one)."""
    if not PG_URL:
        pytest.skip(PG_SKIP)
    url = new_pg_database()
    yield url
    drop_pg_database(url)


@pytest.fixture(params=ENGINES)
def any_index(request, tmp_path):
    """An index location on each engine: a SQLite file, then a PostgreSQL database."""
    target = index_target(request.param, tmp_path)
    yield target
    drop_target(target)
