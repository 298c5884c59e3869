"""Guarded imports of screens and widgets that other engineers build.

The console runs before they land: a missing module gives ``None`` here and
the key that would open it says so.  :func:`construct` passes only the keyword
arguments a constructor accepts, so small signature differences don't break
the timeline.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from typing import Any

log = logging.getLogger(__name__)


def load(module: str, attr: str) -> Any:
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as exc:
        if exc.name and not module.startswith(exc.name) and exc.name not in module:
            log.warning("%s.%s unavailable: %s", module, attr, exc)
        return None
    except AttributeError:
        return None
    except Exception as exc:  # a broken module must not take the console down
        log.warning("%s.%s failed to import: %s", module, attr, exc)
        return None


def construct(cls: Any, *args: Any, **available: Any) -> Any:
    """``cls(*args, **kw)`` with only the keywords its ``__init__`` takes."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return cls(*args)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        kw = available
    else:
        kw = {k: v for k, v in available.items() if k in params}
    return cls(*args, **kw)


ActorsScreen = load("logconsole.tui.screens.actors", "ActorsScreen")
IntegrityScreen = load("logconsole.tui.screens.integrity", "IntegrityScreen")
FindingsScreen = load("logconsole.tui.screens.findings", "FindingsScreen")
FrequencyScreen = load("logconsole.tui.screens.frequency", "FrequencyScreen")
FrequencyTable = load("logconsole.tui.screens.frequency", "FrequencyTable")
Histogram = load("logconsole.tui.widgets.histogram", "Histogram")
FacetPanel = load("logconsole.tui.widgets.facets", "FacetPanel")
