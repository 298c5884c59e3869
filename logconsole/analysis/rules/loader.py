"""Loading Sigma rules from files and directories (and the rules shipped with logconsole).

Every YAML document of every ``*.yml``/``*.yaml`` file becomes a :class:`LoadedRule` or a
:class:`LoadProblem` with the file and the reason: nothing is dropped silently.
Rules are kept as their YAML dict: each compilation parses a fresh ``SigmaRule``
(pySigma's processing pipelines change a rule in place).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import orjson
import yaml
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule

SHIPPED = "logconsole"  # origin of the rules in logconsole/rules/
SIGMAHQ_BLOB = "https://github.com/SigmaHQ/sigma/blob/master/"
#: top directories of a SigmaHQ checkout whose rules link back to SigmaHQ
SIGMAHQ_DIRS = ("rules", "rules-emerging-threats", "rules-threat-hunting", "rules-placeholder", "deprecated",
                "unsupported")
SHIPPED_LINK = "logconsole/rules/"  # inside the installed package
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~6x faster over 3,000 rules
LEVELS = ("informational", "low", "medium", "high", "critical")


@dataclass
class LoadedRule:
    key: str  # the rule's id, else file#n
    doc: dict[str, Any]
    path: str
    origin: str  # "logconsole" (shipped) or the --rules path it came from
    digest: str  # SHA-256 of the rule as loaded (a change re-runs it from the start)
    link: str
    logsource: tuple[str | None, str | None, str | None]
    tags: list[str] = field(default_factory=list)

    @property
    def rule_id(self) -> str:
        return str(self.doc.get("id") or "")

    @property
    def title(self) -> str:
        return str(self.doc.get("title") or Path(self.path).stem)

    @property
    def level(self) -> str:
        lv = str(self.doc.get("level") or "").lower()
        return lv if lv in LEVELS else "informational"

    @property
    def status(self) -> str:
        return str(self.doc.get("status") or "")

    @property
    def author(self) -> str:
        return str(self.doc.get("author") or "")

    @property
    def description(self) -> str:
        return str(self.doc.get("description") or "")

    @property
    def is_correlation(self) -> bool:
        return "correlation" in self.doc


@dataclass
class LoadProblem:
    path: str
    reason: str
    title: str = ""
    rule_id: str = ""
    product: str | None = None


def shipped_dir() -> Path:
    return Path(str(resources.files("logconsole") / "rules"))


def rule_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file())
    return [path]


def sigmahq_link(path: Path) -> str | None:
    parts = path.resolve().parts
    for i, part in enumerate(parts):
        if part in SIGMAHQ_DIRS:
            return SIGMAHQ_BLOB + "/".join(parts[i:])
    return None


def _logsource(doc: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    raw = doc.get("logsource")
    ls: dict[str, Any] = raw if isinstance(raw, dict) else {}

    def one(k: str) -> str | None:
        return str(ls[k]).lower() if ls.get(k) is not None else None

    return one("product"), one("service"), one("category")


def load_rules(paths: Sequence[str | Path], *, shipped: bool = True) -> tuple[list[LoadedRule], list[LoadProblem]]:
    """Rules from the shipped set (if *shipped*) and every file under *paths*."""
    rules: list[LoadedRule] = []
    problems: list[LoadProblem] = []
    seen: dict[str, str] = {}
    sources: list[tuple[Path, str]] = []
    if shipped:
        sources.append((shipped_dir(), SHIPPED))
    for p in paths:
        pp = Path(p)
        if not pp.exists():
            problems.append(LoadProblem(str(p), "no such file or directory"))
            continue
        sources.append((pp, str(p)))
    for root, origin in sources:
        for f in rule_files(root):
            _load_file(f, origin, rules, problems, seen)
    return rules, problems


def _load_file(f: Path, origin: str, rules: list[LoadedRule], problems: list[LoadProblem],
               seen: dict[str, str]) -> None:
    try:
        docs = list(yaml.load_all(f.read_text(encoding="utf-8"), Loader=_YAML_LOADER))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        problems.append(LoadProblem(str(f), f"not readable as YAML: {str(exc).splitlines()[0]}"))
        return
    link = (f"{SHIPPED_LINK}{f.name}" if origin == SHIPPED else sigmahq_link(f)) or f.resolve().as_uri()
    for n, doc in enumerate(d for d in docs if d is not None):
        if not isinstance(doc, dict):
            problems.append(LoadProblem(str(f), "YAML document is not a mapping"))
            continue
        title = str(doc.get("title") or "")
        ls = _logsource(doc)
        if "correlation" not in doc:
            if "detection" not in doc:
                problems.append(LoadProblem(str(f), "no detection section (not a Sigma rule)", title,
                                            str(doc.get("id") or ""), ls[0]))
                continue
            try:
                SigmaRule.from_dict(doc)
            except SigmaError as exc:
                problems.append(LoadProblem(str(f), f"invalid Sigma rule: {exc}", title, str(doc.get("id") or ""), ls[0]))
                continue
            except Exception as exc:  # pySigma raises plain errors on some malformed input
                problems.append(LoadProblem(str(f), f"invalid Sigma rule: {exc.__class__.__name__}: {exc}", title,
                                            str(doc.get("id") or ""), ls[0]))
                continue
        key = str(doc.get("id") or f"{f.resolve()}#{n}")
        if key in seen:
            problems.append(LoadProblem(str(f), f"duplicate rule id {key} (first in {seen[key]})", title, key, ls[0]))
            continue
        seen[key] = str(f)
        digest = hashlib.sha256(orjson.dumps(doc, default=str, option=orjson.OPT_SORT_KEYS)).hexdigest()
        tags = [str(t) for t in doc.get("tags") or [] if isinstance(t, (str, int))]
        rules.append(LoadedRule(key, doc, str(f), origin, digest, link, ls, tags))
