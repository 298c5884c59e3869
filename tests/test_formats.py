"""The explicit format list: every parser is listed once and declares its facts."""

from __future__ import annotations

import ast
import dataclasses
import pkgutil
from pathlib import Path

import pytest

import logconsole.ingest
from logconsole.ingest.base import FormatFacts, Parser
from logconsole.ingest.formats import BY_NAME, PARSERS, UnknownFormat, facts_of, make_parser, names

INGEST_DIR = Path(logconsole.ingest.__file__).parent


def test_names_are_unique_and_sorted():
    assert len(BY_NAME) == len(PARSERS)
    assert names() == sorted(names())  # the detection order on equal scores


@pytest.mark.parametrize("cls", PARSERS, ids=[p.name for p in PARSERS])
def test_every_parser_declares_its_facts(cls):
    # declared on the class itself: no default inherited from Parser
    assert "facts" in vars(cls), f"{cls.__name__} declares no facts"
    facts = cls.facts
    assert isinstance(facts, FormatFacts)
    assert dataclasses.is_dataclass(facts)
    assert facts.short_label and len(facts.short_label) <= 5  # the narrow timeline column
    assert facts.timestamp_desc
    assert facts.sequence in (None, "auditd", "windows")
    assert cls.description and cls.name
    assert facts_of(cls.name) is facts


def test_facts_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PARSERS[0].facts.short_label = "x"  # type: ignore[misc]


def test_parser_without_facts_has_none_to_inherit():
    class Bare(Parser):
        name = "bare"

        def sniff(self, sample):
            return None

        def parse(self, inp):
            return iter(())

    with pytest.raises(AttributeError):
        _ = Bare.facts


def test_every_parser_module_is_listed():
    """A module defining a Parser subclass that is not in PARSERS would be dead code."""
    listed = {p.__module__ for p in PARSERS}
    for mod in pkgutil.iter_modules([str(INGEST_DIR)]):
        tree = ast.parse((INGEST_DIR / f"{mod.name}.py").read_text())
        defines = any(isinstance(n, ast.ClassDef) and any(getattr(b, "id", None) == "Parser" for b in n.bases)
                      for n in tree.body)
        if defines:
            assert f"logconsole.ingest.{mod.name}" in listed, f"{mod.name} defines a parser not in formats.PARSERS"


def test_unknown_format_names_the_known_ones():
    with pytest.raises(UnknownFormat, match="known: auditd, azure-activity"):
        make_parser("nope")
    assert facts_of("nope") is None
