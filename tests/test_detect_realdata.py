"""Detection is exact on every real sample, and every real sample ingests losslessly.

Walks ``tests/data/realdata/<folder>/`` (copies of ``../shared/realdata``): each
file must detect as its folder's format, win by a clear margin over every other
sniffer, and ingest with 0 quarantined records and exact accounting.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from logconsole.ingest.formats import BY_NAME
from logconsole.ingest.detect import detect
from logconsole.ingest.pipeline import ingest_paths
from logconsole.ingest.reader import Input
from logconsole.store.schema import events, quarantine, sources

from .conftest import REALDATA

FOLDER_FORMAT = {
    "cloudtrail": "cloudtrail",
    "k8s-audit": "k8s-audit",
    "auditd": "auditd",
    "ssh-auth": "syslog-auth",
    "pgaudit": "pgaudit",
    "gcp-audit": "gcp-audit",
    "azure-activity": "azure-activity",
    "windows-security": "windows-security",
}
SKIP = {"SOURCES.md", "LICENSES"}


def _samples() -> list[tuple[str, Path]]:
    out = []
    for folder in sorted(REALDATA.iterdir()):
        if folder.name in SKIP or not folder.is_dir():
            continue
        for f in sorted(folder.rglob("*")):
            if f.is_file() and not f.name.startswith("."):
                out.append((folder.name, f))
    return out


SAMPLES = _samples()
IDS = [f"{folder}/{p.name}" for folder, p in SAMPLES]


def test_every_folder_is_known_and_has_samples():
    folders = {p.name for p in REALDATA.iterdir() if p.is_dir() and p.name not in SKIP}
    assert folders == set(FOLDER_FORMAT), "a realdata folder without an expected format (or one missing)"
    assert len(SAMPLES) >= 12  # the 12 files listed in SOURCES.md
    for folder in FOLDER_FORMAT:
        assert any(f == folder for f, _ in SAMPLES), f"no sample file in {folder}/"


@pytest.mark.parametrize(("folder", "path"), SAMPLES, ids=IDS)
def test_detects_as_folder_format(folder, path):
    expected = FOLDER_FORMAT[folder]
    assert expected in BY_NAME, f"format {expected!r} is not registered (parser not landed yet?)"
    det = detect(Input.open(path))
    assert det.format == expected, f"{path.name}: detected {det.format} ({det.evidence})"
    assert det.score >= 60, f"{path.name}: weak evidence {det.score}: {det.evidence}"
    assert det.evidence


@pytest.mark.parametrize(("folder", "path"), SAMPLES, ids=IDS)
def test_no_other_sniffer_is_close(folder, path):
    """Other formats must not claim a sample with a score near the winner's."""
    expected = FOLDER_FORMAT[folder]
    sample = Input.open(path).sample()
    scores = {}
    for name, cls in BY_NAME.items():
        ev = cls().sniff(sample)
        scores[name] = ev.score if ev else 0
    mine = scores.pop(expected, 0)
    rival, rival_score = max(scores.items(), key=lambda kv: kv[1]) if scores else ("-", 0)
    assert mine - rival_score >= 20, f"{path.name}: {expected}={mine} but {rival}={rival_score}"


@pytest.mark.parametrize(("folder", "path"), SAMPLES, ids=IDS)
def test_ingests_with_zero_quarantined(engine, folder, path):
    res = ingest_paths(engine, [str(path)])
    assert not res.errors, res.errors
    [sr] = res.sources
    assert sr.status == "ingested", sr.message
    assert sr.format == FOLDER_FORMAT[folder]
    assert sr.quarantined == 0
    assert sr.records > 0 and sr.events > 0
    assert sr.records == sr.events + sr.duplicates + sr.merged + sr.quarantined
    with engine.connect() as conn:
        row = conn.execute(select(sources).where(sources.c.id == sr.source_id)).one()
        n_events = conn.execute(select(func.count()).select_from(events).where(events.c.source_id == sr.source_id)).scalar()
        n_quar = conn.execute(select(func.count()).select_from(quarantine).where(quarantine.c.source_id == sr.source_id)).scalar()
    assert row.status == "complete"
    assert (row.records, row.events, row.duplicates, row.merged, row.quarantined) == (
        sr.records, sr.events, sr.duplicates, sr.merged, sr.quarantined)
    assert n_events == sr.events
    assert n_quar == 0


def test_whole_folder_in_one_run(engine):
    """Ingesting the directory itself: every sample lands in its own format; only non-log files are skipped."""
    res = ingest_paths(engine, [str(REALDATA)])
    assert not res.errors, res.errors
    got = {Path(s.path).name: s for s in res.sources}
    for folder, path in SAMPLES:
        s = got[path.name]
        assert s.status == "ingested", (path.name, s.message)
        assert s.format == FOLDER_FORMAT[folder]
        assert s.quarantined == 0
    skipped = {Path(s.path).name for s in res.sources if s.status == "skipped"}
    assert "SOURCES.md" in skipped


def test_unrecognized_file_is_an_error_naming_it_and_suggesting_format():
    from logconsole.ingest.detect import UnknownFormat

    lic = sorted((REALDATA / "LICENSES").iterdir())[0]
    with pytest.raises(UnknownFormat) as exc:
        detect(Input.open(lic))
    msg = str(exc.value)
    assert str(lic) in msg and "--format" in msg and "\n" not in msg
    for fmt in FOLDER_FORMAT.values():
        assert fmt in msg
