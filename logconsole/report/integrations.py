"""What the report reads from other areas: the privileges analysis and chain verification.

Each function returns ``None`` when its area has nothing stored (no
verification run, no checkpoint, no grants), and the report then says "not
available" - it never invents data.  An analysis that raises is reported as
"not available" with the error, so one broken area cannot stop a report.
Everything here is read-only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, inspect


def _has_table(engine: Engine, name: str) -> bool:
    try:
        return inspect(engine).has_table(name)
    except Exception:  # pragma: no cover
        return False


# ------------------------------------------------------------------ privileges
class Privileges:
    """A lazily computed privilege analysis of the whole index (or None)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._analysis: Any = None
        self._tried = False
        self.error: str | None = None

    @property
    def analysis(self):
        if not self._tried:
            self._tried = True
            from logconsole.analysis.privileges.actors import analyze

            try:
                self._analysis = analyze(self.engine)
            except Exception as exc:  # a broken area must not break the report
                self.error = f"privileges analysis failed: {exc.__class__.__name__}: {exc}"
                self._analysis = None
        return self._analysis

    def grants_loaded(self) -> bool:
        a = self.analysis
        return bool(a is not None and getattr(a.grants, "snapshots", None))

    def view(self, actor: str):
        a = self.analysis
        if a is None:
            return None
        for v in a.actors:
            if v.name == actor:
                return v
        return None

    def counts(self) -> dict[str, Any] | None:
        """Dormant and over-privileged actors (only when grants are loaded)."""
        if not self.grants_loaded():
            return None
        dormant, over, unknown = [], [], 0
        for v in self.analysis.actors:
            kinds = {a.kind for a in v.alerts}
            s = v.summary()
            if "dormant" in kinds:
                dormant.append(v.name)
            granted = s.get("granted") or 0
            if v.covered and ("wildcard_grant" in kinds or (granted >= OVERPRIVILEGE_MIN_GRANTED and s.get("overprivilege", 0) >= OVERPRIVILEGE_RATIO)):
                over.append(v.name)
            unknown += s.get("unknown") or 0
        return {"dormant": sorted(dormant), "overprivileged": sorted(over), "unknown_permissions": unknown,
                "snapshots": len(self.analysis.grants.snapshots)}


#: over-privileged: a wildcard grant, or at least OVERPRIVILEGE_RATIO of at least
#: OVERPRIVILEGE_MIN_GRANTED granted permissions unused in the window
OVERPRIVILEGE_RATIO = 0.9
OVERPRIVILEGE_MIN_GRANTED = 20


# ------------------------------------------------------------------ chain verification
def verification_results(engine: Engine) -> list[dict[str, Any]] | None:
    """The latest stored verification result per (path, scheme), as dicts, or None when unavailable.

    Each dict is ``TargetResult.as_json()`` plus ``source_id`` and ``files``
    (every file the target covers).
    """
    from logconsole.analysis.chain.results import latest_results

    if not _has_table(engine, "verify_targets"):
        return None
    try:
        results = latest_results(engine)
    except Exception:  # a broken area must not break the report
        return None
    out = []
    for r in results:
        d = r.as_json()
        d["source_id"] = r.source_id
        d["files"] = list(r.files or [r.path])
        out.append(d)
    out.sort(key=lambda d: (str(d["path"]), str(d["scheme"])))
    return out


def index_checkpoint(engine: Engine) -> dict[str, Any] | None:
    """The latest index checkpoint ``{root, size, created_us, tool_version, trigger}``, or None."""
    from logconsole.analysis.chain.custody import latest_checkpoint

    if not _has_table(engine, "index_checkpoints"):
        return None
    try:
        return latest_checkpoint(engine)
    except Exception:
        return None
