"""The zh_search text model in Python, mirroring plugin_service/db/migrations/sql token for token.

The database does the real work (its triggers index Immich's OCR writes, its functions answer
Immich's queries); this mirror is test code, not shipped: the tests check that SQL and Python agree
on real OCR text, and the benchmarks use it to build data and baselines. Also a port of Immich v3.1.0's own
``tokenizeForSearch`` (server/src/utils/database.ts), the baseline the benchmarks compare with.
"""

from __future__ import annotations

import functools
import re
import unicodedata

CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\U00020000-\U0003134f"
WORD = "a-z\u00df-\u00f6\u00f8-\u024f\u0370-\u03ff\u0400-\u04ff"
_SPACE_BETWEEN_CJK = re.compile(f"([{CJK}])\\s+(?=[{CJK}])")
_SPACED_DIGITS = re.compile(r"(?<![0-9])([0-9])\s+(?=[0-9](?![0-9]))")
_RUN = re.compile(f"[{CJK}]+|[{WORD}]+|[0-9]+")
_CJK_START = re.compile(f"^[{CJK}]")
MAX_POSITION = 16383  # tsvector positions stop here
MAX_TOKEN = 100
GLUED_RUNS, GLUED_CHARS = 8, 32  # a glued word's length at most: a hostile text's tsvector stays under 1 MB


MAX_INDEXED_CHARS = 20000  # zh_search.max_indexed_chars(): visible OCR text indexed per asset


@functools.cache
def _fold_table() -> dict[int, str]:
    from plugin_service.db.migrations import fold_table

    return {ord(k): v for k, v in fold_table().items()}


def fold_script(text: str) -> str:
    """Traditional -> Simplified, character by character (OpenCC's table; zh_search.fold_script)."""
    return text.translate(_fold_table())


def normalize(text: str) -> str:
    """NFKC (full-width to half-width), lower case, Traditional -> Simplified, whitespace removed
    between two CJK characters and between single digits that OCR spaced out ('0 0 8 8' -> '0088')."""
    joined = _SPACE_BETWEEN_CJK.sub(r"\1", fold_script(unicodedata.normalize("NFKC", text).lower()))
    return _SPACED_DIGITS.sub(r"\1", joined)


def _runs(norm: str) -> list[str]:
    return _RUN.findall(norm)


# Letters and digits side by side (`g1234`, `12f`, `iphone 15`): such texts also index the glued words
# (zh_search.has_glued_words / doc_tokens_glued)
_GLUED_TEXT = re.compile(f"[{WORD}]\\s*[0-9]|[0-9]\\s*[{WORD}]")
_RUN_WITH_GAP = re.compile(f"([^{CJK}{WORD}0-9]*)([{CJK}]+|[{WORD}]+|[0-9]+)")


def doc_tokens(text: str) -> list[tuple[str, int]]:
    """(token, position) as zh_search.doc_tokens(zh_search.normalize(text)) gives them."""
    tokens: list[tuple[str, int]] = []
    first = 1
    norm = normalize(text)
    for run in _runs(norm):
        if _CJK_START.match(run) and len(run) > 1:
            tokens += [(run[i : i + 2], first + i) for i in range(len(run) - 1)]
            tokens.append((run[-1], first + len(run) - 2))  # last character, for 1-char queries
            first += len(run) - 1
        else:
            tokens.append((run[:MAX_TOKEN], first))
            first += 1
    return [(token, min(pos, MAX_POSITION)) for token, pos in tokens + _glued_words(norm)]


def _glued_words(norm: str) -> list[tuple[str, int]]:
    """A chain is letter and digit runs that alternate with nothing or only whitespace between them
    (`g1234`, `iphone 15 pro`); each run that starts a link of a chain also gives the glued word from it to
    the chain's end (at most GLUED_RUNS runs and GLUED_CHARS characters), at its own position."""
    if not _GLUED_TEXT.search(norm):
        return []
    runs: list[tuple[str, int, bool]] = []  # (run, position, glued to the previous run)
    first = 1
    previous: str | None = None
    for gap, run in _RUN_WITH_GAP.findall(norm):
        cjk = bool(_CJK_START.match(run))
        glued = (
            not cjk
            and not gap.strip()
            and previous is not None
            and not _CJK_START.match(previous)
            and previous[0].isdigit() != run[0].isdigit()
        )
        runs.append((run, first, glued))
        first += len(run) - 1 if cjk and len(run) > 1 else 1
        previous = run
    words = []
    for index, (_, position, _) in enumerate(runs):
        if index + 1 < len(runs) and runs[index + 1][2]:
            end = index + 1
            while end < len(runs) and end - index < GLUED_RUNS and runs[end][2]:
                end += 1
            words.append(("".join(r for r, _, _ in runs[index:end])[:GLUED_CHARS], position))
    return words


def doc_lexemes(text: str) -> dict[str, list[int]]:
    """The tsvector as lexeme -> sorted positions."""
    lexemes: dict[str, set[int]] = {}
    for token, pos in doc_tokens(text):
        lexemes.setdefault(token, set()).add(pos)
    return {k: sorted(v) for k, v in sorted(lexemes.items())}


def _quote(token: str) -> str:
    return "'" + token + "'"


def query_tsquery(query: str) -> str | None:
    """The text of zh_search.query_tsquery(query) before PostgreSQL normalises it; None if empty.

    Terms (split on whitespace, except between single spaced-out digits) are ANDed; a term's tokens form a
    phrase; CJK runs become adjacent bigrams; the term's last token is a prefix unless it is a CJK run of two
    or more characters. Letters and digits side by side in a term (`g1234`) are one glued word, as documents
    index them, `N` positions wide for `N` runs; before another letter or digit run after punctuation
    (`g1234-x`, where a document may glue across a space), or longer than a document's glued word, they stay
    a phrase of runs. Traditional characters fold to Simplified, as in the documents."""
    phrases = []
    for term in _SPACED_DIGITS.sub(r"\1", fold_script(unicodedata.normalize("NFKC", query[:256]).lower())).split():
        words: list[list[str]] = []  # runs glued together
        for gap, run in _RUN_WITH_GAP.findall(term):
            cjk = bool(_CJK_START.match(run))
            if words and not gap and not cjk and not _CJK_START.match(words[-1][-1]):
                words[-1].append(run)
            else:
                words.append([run])
        text = ""
        for index, word in enumerate(words):
            last = index == len(words) - 1
            run = word[0]
            whole = 1 < len(word) <= GLUED_RUNS and len("".join(word)) <= GLUED_CHARS
            if whole and (last or _CJK_START.match(words[index + 1][0])):
                text += _quote("".join(word)) + (":*" if last else f" <{len(word)}> ")
                continue
            if len(word) > 1:
                text += " <-> ".join(_quote(r[:MAX_TOKEN]) for r in word) + (":*" if last else " <-> ")
            elif _CJK_START.match(run) and len(run) > 1:
                text += " <-> ".join(_quote(run[i : i + 2]) for i in range(len(run) - 1)) + ("" if last else " <-> ")
            else:
                text += _quote(run[:MAX_TOKEN]) + (":*" if last else " <-> ")
        if text:
            phrases.append("(" + text + ")")
    return " & ".join(sorted(phrases)) if phrases else None


# ---- Immich v3.1.0 baseline (server/src/utils/database.ts tokenizeForSearch, PR #24285) ----


def _immich_is_cjk(ch: str) -> bool:
    c = ord(ch)
    return (
        0x4E00 <= c <= 0x9FFF
        or 0xAC00 <= c <= 0xD7AF
        or 0x3040 <= c <= 0x309F
        or 0x30A0 <= c <= 0x30FF
        or 0x3400 <= c <= 0x4DBF
    )


def immich_tokenize(text: str) -> str:
    """Immich's tokenizeForSearch: CJK runs -> overlapping bigrams (lone char -> unigram), other
    non-space runs kept whole, joined by single spaces. Code points <= 32 separate. JavaScript
    iterates UTF-16 code units; characters outside the BMP are non-CJK there and here alike."""
    tokens: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ord(ch) <= 32:
            i += 1
            continue
        start = i
        if _immich_is_cjk(ch):
            while i < n and _immich_is_cjk(text[i]):
                i += 1
            run = text[start:i]
            tokens += [run] if len(run) == 1 else [run[k : k + 2] for k in range(len(run) - 1)]
        else:
            while i < n and ord(text[i]) > 32 and not _immich_is_cjk(text[i]):
                i += 1
            tokens.append(text[start:i])
    return " ".join(tokens)
