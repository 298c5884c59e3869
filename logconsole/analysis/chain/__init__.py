"""Chain verification: prove a log intact, or say exactly where and how it was tampered with.

Schemes (see ``docs/integrity.md``):

* :mod:`.hashchain` - JSON-lines logs whose records carry their own hash chain;
* :mod:`.cloudtrail_digest` - CloudTrail log file integrity validation (signed digests);
* :mod:`.sequence` - sequence numbers (auditd serials, Windows EventRecordID, any ``seq``);
* :mod:`.merkle` / :mod:`.custody` - logconsole's own chain of custody over the index.

Nothing here imports Textual.
"""

from logconsole.analysis.chain.model import (
    FAILURE_KINDS,
    STATUSES,
    Failure,
    TargetResult,
    exit_code,
)

__all__ = ["FAILURE_KINDS", "STATUSES", "Failure", "TargetResult", "exit_code"]
