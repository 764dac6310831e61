"""Automatic screening of members' text against a term list. Pure functions.

Text and terms are brought to one form before they are compared, so the usual ways of
slipping a word past a filter do not work:

- case and accents: `KÍLL` is `kill` (Unicode NFKD, combining marks dropped, casefolded);
- leetspeak: `0 1 3 4 5 7 @ $` read as `o i e a s t a s`;
- spacing and punctuation: `b a d`, `b.a.d` and `b-a-d` are `bad` (a run of three or more
  one-character words is read as one spelled-out word, which matches a term anywhere in
  it);
- stretching: `baaaad` is `bad` (repeated letters count once, in text and terms alike).

Otherwise a term matches whole words only (a trailing `s` or `es` allowed), so a term
hidden inside an innocent word ("class" for "ass") raises nothing. A term may be several
words ("kill yourself"); the words must follow each other.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# A few obviously abusive terms; operators set their own list (KINDRED_SCREENING_TERMS).
DEFAULT_TERMS = (
    "kill yourself",
    "kys",
    "go die",
    "retard",
    "whore",
    "slut",
    "bitch",
    "cunt",
)

_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
_WORD = re.compile(r"[^\W_]+")
_REPEATS = re.compile(r"(.)\1+")
# The shortest run of one-character words read as a spelled-out word ("a i" is not).
SPELLED_RUN = 3
_PLURALS = ("", "s", "es")


def fold(text: str) -> str:
    """Casefolded, accents dropped, compatibility forms unified, leetspeak read as letters."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return plain.casefold().translate(_LEET)


def squeeze(word: str) -> str:
    """`baaaad` → `bad`: each run of one repeated character counts once."""
    return _REPEATS.sub(r"\1", word)


@dataclass(frozen=True)
class Word:
    text: str
    spelled: bool = False  # joined from one-character words ("b a d")


def words(text: str) -> list[Word]:
    """The text's words in their compared form, spelled-out runs joined into one."""
    out: list[Word] = []
    run: list[str] = []

    def end_run() -> None:
        if len(run) >= SPELLED_RUN:
            out.append(Word(squeeze("".join(run)), spelled=True))
        else:
            out.extend(Word(letter) for letter in run)
        run.clear()

    for token in _WORD.findall(fold(text)):
        if len(token) == 1:
            run.append(token)
            continue
        end_run()
        out.append(Word(squeeze(token)))
    end_run()
    return out


@dataclass(frozen=True)
class Term:
    """A screened term as written, and its compared form."""

    term: str
    words: tuple[str, ...]

    @property
    def compact(self) -> str:
        return squeeze("".join(self.words))


def _matches_word(word: Word, expected: str, *, last: bool) -> bool:
    if word.text == expected:
        return True
    return last and any(word.text == expected + suffix for suffix in _PLURALS)


def _found(term: Term, text_words: list[Word]) -> bool:
    if any(word.spelled and term.compact in word.text for word in text_words):
        return True
    size = len(term.words)
    for start in range(len(text_words) - size + 1):
        window = text_words[start : start + size]
        if all(
            _matches_word(word, expected, last=index == size - 1)
            for index, (word, expected) in enumerate(zip(window, term.words, strict=True))
        ):
            return True
    return False


@dataclass(frozen=True)
class TermList:
    """The configured terms, ready to screen text with."""

    terms: tuple[Term, ...]

    @classmethod
    def of(cls, terms: list[str] | tuple[str, ...]) -> TermList:
        compiled: dict[tuple[str, ...], Term] = {}
        for term in terms:
            compared = tuple(word.text for word in words(term))
            if compared and compared not in compiled:
                compiled[compared] = Term(term.strip(), compared)
        return cls(tuple(compiled.values()))

    @classmethod
    def parse(cls, setting: str) -> TermList:
        """From `KINDRED_SCREENING_TERMS`: comma-separated terms (blank ones skipped)."""
        return cls.of([term for term in setting.split(",") if term.strip()])

    def find(self, text: str) -> list[str]:
        """The terms found in `text`, in list order (empty: nothing to report)."""
        if not text:
            return []
        text_words = words(text)
        return [term.term for term in self.terms if _found(term, text_words)]
