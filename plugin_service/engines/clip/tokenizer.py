"""Chinese-CLIP's text tokenizer without torch, with bounded work for any input length.

cn_clip tokenizes with BERT's Chinese WordPiece (``cn_clip/clip/bert_tokenizer.py``, Apache-2.0)
and keeps ``[CLS] ids[:50] [SEP]``, zero-padded to 52.  The rules are ported here line for line
rather than taken from Hugging Face ``tokenizers``, whose BERT normaliser differs on inputs that
matter (it deletes private-use and unassigned characters, lowers a final sigma to σ, gives up
on words over 100 characters where cn_clip allows 200, and stops CJK at Extension D) and cannot
take lone surrogates.  The port uses this interpreter's ``unicodedata``, exactly as cn_clip does,
so the two agree whatever the Unicode version (tests compare them over the whole code-point range).

cn_clip tokenizes the whole text and then keeps 50 tokens: a 12 MB query took 21 s and 2.6 GB.
Here only as much text as the first 50 tokens need is processed (see ``_first_tokens``).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from plugin_service.engines.clip.architectures import CONTEXT_LENGTH

# The 21,128-token vocabulary of Chinese BERT / Chinese-CLIP (Apache-2.0), shipped as data;
# byte for byte cn_clip's own ``vocab.txt``.
VOCAB = Path(__file__).with_name("vocab.txt")
MAX_WORD_CHARS = 200  # cn_clip's WordpieceTokenizer.max_input_chars_per_word
UNK, CLS, SEP = "[UNK]", "[CLS]", "[SEP]"


class ClipTokenizer:
    def __init__(self, vocab: Path = VOCAB, context_length: int = CONTEXT_LENGTH, *, exact_below: int = 1000):
        self.context_length = context_length
        self.vocab = _load_vocab(vocab)
        self._longest = max(map(len, self.vocab))  # no longer substring can be a vocabulary entry
        # Texts up to this many characters go through the port as cn_clip runs it; longer ones are
        # cut first (same ids, bounded work).  Tests lower it to check the cut on small inputs.
        self.exact_below = exact_below
        _tables()  # built once per process (~0.4 s), so the first long query does not pay for it

    def __call__(self, texts: Iterable[str]) -> np.ndarray:
        """int64 ids, shape (len(texts), context_length), as ``cn_clip.clip.tokenize`` returns them."""
        rows = [self.ids(text) for text in texts]
        result = np.zeros((len(rows), self.context_length), dtype=np.int64)
        for i, row in enumerate(rows):
            result[i, : len(row)] = row
        return result

    def ids(self, text: str) -> list[int]:
        """``[CLS]`` + the first ``context_length - 2`` token ids + ``[SEP]``, unpadded."""
        tokens = self._first_tokens(text, self.context_length - 2)
        return [self.vocab[CLS], *(self.vocab[t] for t in tokens), self.vocab[SEP]]

    def tokens(self, text: str) -> list[str]:
        """All tokens of ``text``, as cn_clip's ``FullTokenizer.tokenize`` gives them (unbounded: tests only)."""
        return [piece for word in _basic_tokens(text) for piece in self._wordpiece(word)]

    def _first_tokens(self, text: str, limit: int) -> list[str]:
        """The first ``limit`` tokens of ``text``, reading only as much of it as they depend on.

        Exact because cn_clip's rules are local: words end at whitespace and around CJK characters,
        pieces of a word end at punctuation, lower-casing is per character except for a capital
        sigma (resolved from its context, ``_resolve_sigmas``), and control, format and combining
        characters vanish wherever they stand.  So a prefix is tokenized, the tokens it settles are
        kept, and the prefix grows (x4) only while fewer than ``limit`` are settled: ordinary text is
        done after its first few thousand characters.  Adversarial shapes (one endless word) are
        read to the end, but only by C-speed scans, a window at a time.
        """
        if len(text) < self.exact_below:
            return self.tokens(text)[:limit]
        size = 4 * self.exact_below
        while True:
            prefix = text[:size]  # the text itself (no copy) once size reaches its length
            whole = len(prefix) == len(text)
            tokens = self._settled_tokens(prefix, limit, whole)
            if len(tokens) >= limit or whole:
                return tokens[:limit]
            size *= 4

    def _settled_tokens(self, text: str, limit: int, whole: bool) -> list[str]:
        """Tokens of ``text`` that no continuation can change (all of them when ``whole``)."""
        tables = _tables()
        text, probe = tables.squeeze(text)
        out: list[str] = []
        for word in tables.word.finditer(probe):
            start, end = word.span()
            partial = not whole and end == len(probe)  # the last word may go on past the prefix
            if end - start >= self.exact_below:
                out.extend(self._long_word_tokens(text, probe, start, end, limit - len(out), partial))
            elif not partial:
                out.extend(self.tokens(text[start:end]))
            if len(out) >= limit:
                break
        return out

    def _long_word_tokens(self, text: str, probe: str, start: int, end: int, limit: int, partial: bool) -> list[str]:
        """The settled tokens of one long word, a window at a time, piece by piece."""
        tables = _tables()
        out: list[str] = []
        pos = start
        while pos < end and len(out) < limit:
            stop = min(end, pos + WINDOW)
            window, unsettled = _resolve_sigmas(text, probe, start, pos, stop, end, partial)
            more = stop < end or partial  # the window's last piece may go on
            next_pos = stop
            for run in tables.piece.finditer(probe, pos, stop):
                if run.end() > unsettled:
                    return out  # a sigma whose form the prefix does not settle
                length = run.end() - run.start()
                if length > MAX_WORD_CHARS:
                    # Every character left gives at least one character (checked over the whole code-point
                    # range in the tests), so the piece is over cn_clip's 200-character word limit.
                    out.append(UNK)
                    if run.end() == stop and stop < end:  # skip the rest of this piece
                        found = tables.piece_end.search(probe, stop, end)
                        if found is None and partial:
                            return out
                        next_pos = found.start() if found else end
                elif run.end() == stop and more and not tables.piece_end.fullmatch(probe, run.start(), run.end()):
                    if stop == end:
                        return out  # cut by the prefix
                    next_pos = run.start()  # read it whole in the next window
                    break
                else:
                    out.extend(self.tokens(window[run.start() - pos : run.end() - pos]))
                if len(out) >= limit:
                    break
            pos = next_pos
        return out

    def _wordpiece(self, token: str) -> list[str]:
        """cn_clip's greedy longest-match-first WordPiece (``WordpieceTokenizer.tokenize``) for one word."""
        if len(token) > MAX_WORD_CHARS:
            return [UNK]
        pieces, start = [], 0
        while start < len(token):
            end = min(len(token), start + self._longest)
            while start < end:
                candidate = token[start:end] if start == 0 else "##" + token[start:end]
                if candidate in self.vocab:
                    pieces.append(candidate)
                    break
                end -= 1
            else:
                return [UNK]
            start = end
        return pieces


# --- cn_clip's BasicTokenizer, ported (bert_tokenizer.py) -----------------------------------------


def _basic_tokens(text: str) -> list[str]:
    """Clean, space out CJK characters, split on whitespace, lower, strip accents, split on punctuation."""
    cleaned = []
    for char in text:
        cp = ord(char)
        if cp == 0 or cp == 0xFFFD or _is_control(char):
            continue
        if _is_whitespace(char):
            cleaned.append(" ")
        elif _is_chinese_char(cp):
            cleaned.append(f" {char} ")
        else:
            cleaned.append(char)
    split_tokens: list[str] = []
    for token in "".join(cleaned).split():
        token = _strip_accents(token.lower())
        split_tokens.extend(_split_on_punctuation(token))
    return " ".join(split_tokens).split()


def _strip_accents(text: str) -> str:
    return "".join(char for char in unicodedata.normalize("NFD", text) if unicodedata.category(char) != "Mn")


def _split_on_punctuation(text: str) -> list[str]:
    output: list[list[str]] = []
    start_new_word = True
    for char in text:
        if _is_punctuation(char):
            output.append([char])
            start_new_word = True
        else:
            if start_new_word:
                output.append([])
            start_new_word = False
            output[-1].append(char)
    return ["".join(chars) for chars in output]


def _is_chinese_char(cp: int) -> bool:
    # cn_clip's list: CJK Unified Ideographs, Ext A-D (its 0x2B820-0x2CEAF is Ext E), compatibility blocks.
    return any(low <= cp <= high for low, high in _CJK_RANGES)


_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _is_whitespace(char: str) -> bool:
    return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _is_control(char: str) -> bool:
    return char not in "\t\n\r" and unicodedata.category(char) in ("Cc", "Cf")


def _is_punctuation(char: str) -> bool:
    cp = ord(char)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(char).startswith("P")


def _load_vocab(path: Path) -> dict[str, int]:
    # cn_clip's load_vocab: one entry per line, stripped; a repeated entry keeps its last index.
    vocab: dict[str, int] = {}
    with open(path, encoding="utf-8") as handle:
        for index, line in enumerate(handle):
            vocab[line.strip()] = index
    return vocab


# --- character classes for the cut ----------------------------------------------------------------


WINDOW = 4096  # characters of a long word resolved and split at a time (more than MAX_WORD_CHARS)


def _resolve_sigmas(
    text: str, probe: str, word_start: int, pos: int, stop: int, end: int, partial: bool
) -> tuple[str, int]:
    """``text[pos:stop]`` with each capital sigma replaced by the lower-case form Python gives it
    in its word, so that the rest lower-cases character by character; and the first position
    whose sigma the text so far does not settle (``end`` when there is none)."""
    window = text[pos:stop]
    if "\u03a3" not in window:
        return window, end
    tables = _tables()
    parts, last, unsettled = [], 0, end
    for index in (pos + i for i, char in enumerate(window) if char == "\u03a3"):
        # CPython's final-sigma rule: preceded by a cased letter and not followed by one, skipping
        # case-ignorable characters either way (handle_capital_sigma in unicodeobject.c).
        after = tables.not_case_ignorable.search(probe, index + 1, end)
        if after is None and partial:
            unsettled = min(unsettled, index)
            break
        before = _last_not_case_ignorable(probe, word_start, index)
        final = before is not None and _is_cased(before) and (after is None or not _is_cased(after.group()))
        parts += [window[last : index - pos], "\u03c2" if final else "\u03c3"]
        last = index - pos + 1
    parts.append(window[last:])
    return "".join(parts), unsettled


def _last_not_case_ignorable(probe: str, start: int, index: int) -> str | None:
    not_ignorable = _tables().not_case_ignorable
    high, step = index, 64
    while high > start:
        low = max(start, high - step)
        found = not_ignorable.search(probe[low:high][::-1])
        if found:
            return found.group()
        high, step = low, step * 4
    return None


def _is_cased(char: str) -> bool:
    # Not exposed by unicodedata; the sigma rule itself tells (only asked of non-case-ignorable characters).
    return (char + "\u03a3").lower()[-1] == "\u03c2"


def _is_case_ignorable(char: str) -> bool:
    # Followed by it then a cased letter, a sigma is not final; followed by it then "!", final:
    # exactly when the rule skips it.
    return ("\u0391\u03a3" + char + "\u0391").lower()[1] == "\u03c3" and ("\u0391\u03a3" + char + "!").lower()[
        1
    ] == "\u03c2"


@dataclass(frozen=True)
class _Tables:
    vanishing: np.ndarray  # bool per code point: removed by cn_clip wherever it stands
    astral_stand_in: np.ndarray  # per code point above U+FFFF: a BMP character of the same classes
    word: re.Pattern[str]  # one CJK character, or a run of characters up to whitespace or CJK
    piece: re.Pattern[str]  # inside a word: one punctuation character, or a run up to the next one
    piece_end: re.Pattern[str]  # one punctuation character
    not_case_ignorable: re.Pattern[str]

    def squeeze(self, text: str) -> tuple[str, str]:
        """``text`` without its vanishing characters, and a copy of that with BMP stand-ins for
        astral characters (the same object when there are none) for the patterns to scan: Python's
        regex engine tests astral characters against a set's ranges one by one (0.3 µs each),
        where a BMP bitmap takes 10 ns.  Done with numpy, a million characters at a time."""
        kept, probes, changed, astral = [], [], False, False
        for offset in range(0, len(text), 1 << 20):
            chunk = text[offset : offset + (1 << 20)]
            codes = np.frombuffer(chunk.encode("utf-32-le", "surrogatepass"), dtype="<u4")
            vanish = self.vanishing[codes]
            if vanish.any():
                codes, changed = codes[~vanish], True
                chunk = codes.tobytes().decode("utf-32-le", "surrogatepass")
            kept.append(chunk)
            high = codes > 0xFFFF
            if high.any():
                astral = True
                codes = np.where(high, self.astral_stand_in[np.where(high, codes - 0x10000, 0)], codes)
                probes.append(codes.astype("<u4").tobytes().decode("utf-32-le", "surrogatepass"))
            else:
                probes.append(chunk)
        squeezed = "".join(kept) if changed else text
        return squeezed, "".join(probes) if astral else squeezed


@functools.cache
def _tables() -> _Tables:
    """Character classes of this interpreter's Unicode database (one pass over all code points, ~1 s).

    Removing a combining mark before lower-casing and NFD gives what cn_clip gets by stripping it
    after: marks are case-ignorable (the final-sigma rule skips them) and canonical reordering is a
    stable sort, so the other characters keep their order.  A character counts as punctuation when
    its lower-cased NFD form holds punctuation; for every such character that form starts with a
    starter, so NFD never reorders across a cut there (both checked over all code points in tests).
    """
    vanishing = np.zeros(0x110000, dtype=bool)
    separators, punctuation, case_ignorable = [], [], []
    stand_in = np.full(0x100000, ord("0"), dtype="<u4")  # neither cased nor case-ignorable nor punctuation
    for cp in range(0x110000):
        char = chr(cp)
        category = unicodedata.category(char)
        if cp in (0, 0xFFFD) or category == "Mn" or (category in ("Cc", "Cf") and char not in "\t\n\r"):
            vanishing[cp] = True
            continue
        if category in ("Cn", "Co", "Cs"):
            continue  # unassigned, private use, surrogates: plain characters
        ignorable = category in ("Me", "Lm", "Sk") or category[0] == "P" and _is_case_ignorable(char)
        if ignorable:
            case_ignorable.append(cp)
        if char.isspace() or category == "Zs":
            separators.append(cp)
        elif _is_punctuation(char) or (
            (unicodedata.decomposition(char) or char.lower() != char)
            and any(map(_is_punctuation, unicodedata.normalize("NFD", char.lower())))
        ):
            punctuation.append(cp)
            if cp > 0xFFFF:
                stand_in[cp - 0x10000] = ord(".") if ignorable else ord("!")
        elif cp > 0xFFFF:
            if _is_chinese_char(cp):
                stand_in[cp - 0x10000] = ord("\u4e00")
            elif ignorable:
                stand_in[cp - 0x10000] = ord("\u02b0")  # a modifier letter: case-ignorable
            elif _is_cased(char):
                stand_in[cp - 0x10000] = ord("a")
    bmp = "".join(f"{re.escape(chr(low))}-{re.escape(chr(high))}" for low, high in _CJK_RANGES if high < 0x10000)
    punct = _char_class([cp for cp in punctuation if cp < 0x10000])
    return _Tables(
        vanishing=vanishing,
        astral_stand_in=stand_in,
        word=re.compile(f"[{bmp}]|[^{_char_class(separators)}{bmp}]+"),
        piece=re.compile(f"[{punct}]|[^{punct}]+"),
        piece_end=re.compile(f"[{punct}]"),
        not_case_ignorable=re.compile(f"[^{_char_class([cp for cp in case_ignorable if cp < 0x10000])}]"),
    )


def _char_class(code_points: list[int]) -> str:
    """The inside of a regex ``[...]`` matching exactly these (sorted) code points."""
    parts, i = [], 0
    while i < len(code_points):
        j = i
        while j + 1 < len(code_points) and code_points[j + 1] == code_points[j] + 1:
            j += 1
        low, high = code_points[i], code_points[j]
        parts.append(re.escape(chr(low)) if low == high else f"{re.escape(chr(low))}-{re.escape(chr(high))}")
        i = j + 1
    return "".join(parts)
