"""What the full-text index sees of a record, and how free text is searched.

``events_fts`` indexes the one-line message and the raw record.  For JSON
records only the *values* are indexed: the keys (``"eventName":``,
``"userIdentity":`` ...) are the same in every record, so indexing them
roughly doubles the FTS index and makes a search for a key word match every
event; and the message is left out, because every word of it comes from
those values.  For line formats (syslog, auditd ...) both are indexed: the
message may carry words the line does not (``login failed``).  Fields are
searched with ``field:value``; free text is for values.  The transform must be
the same at insert and at delete (contentless FTS5), hence one function.

Substring search
----------------
``events_fts`` is a word index (``unicode61``: a word is a run of letters and
digits, compared case-insensitively).  A free-text word matches *inside*
indexed words (``denied`` finds ``AccessDenied``) through a second, small
table: ``fts_terms``, the vocabulary of the index - every distinct indexed
word except long identifiers (8+ characters with a digit: request ids, keys,
hashes; a search matches those from their start).  A search looks up the
vocabulary words that contain the query word (a scan of ~500,000 short rows
at 1,000,000 CloudTrail events, 6 MB, 25-40 ms) and asks ``events_fts`` for any of them, in one MATCH string that
SQLite builds itself (:func:`substring_match_sql`), so a compiled filter needs
no connection.  Measured against the alternatives (docs/performance.md):
an FTS5 ``trigram`` index of the same text is 6.5x larger and 8x slower to
fill (``detail=none``: as large as the word index but still 5x slower to
fill, and it cannot match phrases), where the vocabulary costs ~1 % of the
index and ~20 µs of parse-worker time per record (measured: docs/performance.md).

The vocabulary is filled at ingest (:func:`new_terms`, in the parse worker)
and, for an index made before it existed, by a migration from the FTS
index's own vocabulary (``fts5vocab``), which is exact by construction.
"""

from __future__ import annotations

import json
import re
import unicodedata

from logconsole.store import rawcodec

# A JSON string followed by a colon is a key.  Keys with backslash escapes are
# rare and simply stay indexed; the escape-free pattern is 4x faster (7 µs for a
# 1.3 KB CloudTrail record against 31 µs with an escape-aware alternation).
_KEY = re.compile(r'"[^"\\]*"\s*:')


def _is_json(raw: str) -> bool:
    head = raw[:1] if raw[:1] not in (" ", "\t", "\r", "\n") else raw.lstrip()[:1]
    return head == "{" or head == "["


def fts_raw(raw: str) -> str:
    """The raw record as indexed: JSON keys removed, everything else unchanged."""
    return _KEY.sub(" ", raw) if _is_json(raw) else raw


def fts_columns(message: str | None, raw: str) -> tuple[str, str]:
    """``(message, raw)`` as given to ``events_fts``."""
    if _is_json(raw):
        return "", _KEY.sub(" ", raw)
    return message or "", raw


# ----------------------------------------------------------------- vocabulary

#: vocabulary words longer than this that contain a digit are identifiers
#: (uuids' parts, access keys, hashes): unique per record, they would make the
#: vocabulary as large as the index; they are found from their start instead.
ID_MIN_LEN = 8

# ASCII: letters and digits are word characters (lowercased), every other ASCII
# byte separates; bytes >= 0x80 (UTF-8 of other scripts) stay in the word and
# are looked at once per distinct word (:func:`_fold`)
_SPLIT = bytes(
    c + 32 if 65 <= c <= 90 else c if (48 <= c <= 57 or 97 <= c <= 122 or c >= 128) else 32 for c in range(256)
)
_HAS_DIGIT = re.compile(rb"[0-9]")
_WORD = re.compile(r"[^\W_]+")


def _fold(word: str) -> str:
    """Lowercase without diacritics, as ``unicode61 remove_diacritics 2`` indexes it."""
    if word.isascii():
        return word.lower()
    d = unicodedata.normalize("NFKD", word.lower())
    return "".join(c for c in d if not unicodedata.combining(c))


def words(text: str) -> list[str]:
    """The words ``events_fts`` makes of *text* (folded), in order."""
    return [_fold(w) for w in _WORD.findall(text)]


def _in_vocabulary(w: bytes) -> bool:
    return 0 < len(w) <= 200 and (len(w) < ID_MIN_LEN or not _HAS_DIGIT.search(w))


class TermCollector:
    """The vocabulary words of records not seen before by this process.

    ``collect(text)`` costs ~20 µs for a 1.3 KB record (a byte translation and a
    split in C); only words new to the process are returned, so the writer
    inserts each word about once per ingest (``INSERT OR IGNORE``).
    """

    def __init__(self, cap: int = 2_000_000) -> None:
        self.seen: set[bytes] = set()
        self.cap = cap

    def collect(self, text: str, out: set[str]) -> None:
        toks = set(text.encode("utf-8", "surrogatepass").translate(_SPLIT).split())
        new = toks - self.seen
        if not new:
            return
        if len(self.seen) > self.cap:
            self.seen.clear()
        self.seen |= new
        has_digit = _HAS_DIGIT.search
        for w in new:
            n = len(w)  # _in_vocabulary, inline: most new words are identifiers
            if not (n < ID_MIN_LEN or (n <= 200 and not has_digit(w))):
                continue
            if w.isascii():
                out.add(w.decode("ascii"))
            else:  # other scripts: split and fold as unicode61 does
                for part in words(w.decode("utf-8", "ignore")):
                    if _in_vocabulary(part.encode()):
                        out.add(part)


#: texts tokenized at once by :func:`new_terms` (joined by a separator: one translation and
#: split in C for the lot instead of one per record, ~2x faster; bounded for memory)
_JOIN = 2000


def new_terms(texts: list[str], collector: TermCollector | None = None) -> list[str]:
    """Vocabulary words in *texts* that *collector* (default: this process's, for
    a parse worker, which serves one ingest) has not returned before."""
    c = collector if collector is not None else _COLLECTOR
    out: set[str] = set()
    for i in range(0, len(texts), _JOIN):
        joined = "\n".join(t for t in texts[i:i + _JOIN] if t)  # "\n" separates words like any other
        if joined:
            c.collect(joined, out)
    return sorted(out)


_COLLECTOR = TermCollector()


_COLLECTOR = TermCollector()


# -------------------------------------------------------------- free text query

#: infix/suffix expansion needs this many characters (shorter words match the
#: start of a word: "s3" would otherwise expand to every word containing "s3")
MIN_INFIX = 3


def phrase(tokens: list[str], *, prefix: bool = False) -> str:
    """An FTS5 phrase of already-split words (letters and digits only)."""
    body = " ".join(tokens).replace('"', '""')
    return f'"{body}"' + ("*" if prefix else "")


def substring_parts(text: str) -> tuple[list[str], bool, bool] | None:
    """``(words, open_start, open_end)`` of a substring search for *text*.

    *open_start*: the first word may be the end of a longer word (the text does
    not start with a separator); *open_end*: the last word may be the start of
    a longer one.  None if *text* has no letter or digit.
    """
    toks = words(text)
    if not toks:
        return None
    stripped = text.strip()
    open_start = bool(_WORD.match(stripped))
    open_end = bool(re.search(r"[^\W_]$", stripped))
    return toks, open_start, open_end


# ------------------------------------------------------- the not-yet-indexed tail

#: ``meta`` key: every event with ``id <=`` this value has its full-text row; events
#: above it (written by an ingest whose full-text catch-up has not run yet) are
#: searched by scanning them (:func:`tail_match`).  No row: every event is indexed.
FTS_UPTO_KEY = "fts_indexed_upto"


def tail_spec(toks: list[str], *, open_start: bool, open_end: bool) -> str:
    """The search of a free-text clause, for :func:`tail_match` (JSON text)."""
    return json.dumps([toks, open_start, open_end], separators=(",", ":"))


def _run_matches(seq: list[str], toks: list[str], open_start: bool, open_end: bool) -> bool:
    n = len(toks)
    last = n - 1
    for i in range(len(seq) - n + 1):
        for j, t in enumerate(toks):
            w = seq[i + j]
            if j == 0 and open_start:
                ok = (t in w) if (n == 1 and open_end) else w.endswith(t)
            elif j == last and open_end:
                ok = w.startswith(t)
            else:
                ok = w == t
            if not ok:
                break
        else:
            return True
    return False


def tail_match(message: str | None, raw: bytes | None, spec: str) -> bool:
    """Does an event not yet in the full-text index match a free-text clause?

    The same text the index would hold (:func:`fts_columns`, split and folded by
    :func:`words`), matched in the same forms: whole words in order, the first word
    possibly the end of a longer word (*open_start*), the last possibly the start of
    one (*open_end*).  It is a little wider than the index for long identifiers (the
    index matches those from their start only), never narrower: a search issued
    before the catch-up misses nothing.
    """
    toks, open_start, open_end = json.loads(spec)
    text = rawcodec.decode_bytes(raw).decode("utf-8", "replace") if raw is not None else ""
    fts_msg, fts_text = fts_columns(message, text)
    return any(_run_matches(words(part), toks, open_start, open_end) for part in (fts_msg, fts_text) if part)
