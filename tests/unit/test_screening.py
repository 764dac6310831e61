"""Screening: text and terms compared in one form, so the usual evasions do not work, and
innocent words that merely contain a term raise nothing."""

from __future__ import annotations

import pytest

from subgraphs.moderation.screening import DEFAULT_TERMS, TermList, fold, squeeze, words

TERMS = TermList.of(["kill yourself", "kys", "slut", "idiot"])


def test_folding_drops_case_accents_and_reads_leetspeak() -> None:
    assert fold("KÍLL Yöursélf") == "kill yourself"
    assert fold("1d10t $lu7 4ss @ss 3") == "idiot slut ass ass e"
    assert fold("\uff53\uff4c\uff55\uff54") == "slut"  # full-width compatibility forms


def test_stretched_letters_count_once() -> None:
    assert squeeze("sluuuuttt") == "slut"


def test_spelled_out_words_are_joined() -> None:
    # A lone letter before the run joins it: a term matches anywhere in a spelled word.
    assert [word.text for word in words("you are a s l u t")] == ["you", "are", "aslut"]
    assert [word.text for word in words("s.l.u.t!")] == ["slut"]
    assert words("I am a cat")[2].spelled is False  # a lone letter stays a letter


@pytest.mark.parametrize(
    "text",
    [
        "you idiot",
        "YOU IDIOT",
        "you 1d10t",
        "you idiots",
        "you iiidiooot",
        "Kill yourself.",
        "kíll yöursélf",
        "K1LL Y0URSELF",
        "k i l l   y o u r s e l f",
        "k.y.s",
        "k-y-s now",
        "what a $lut",
        "s l u t",
        "s_l_u_t",
        "\uff53\uff4c\uff55\uff54",
    ],
)
def test_evasions_are_caught(text: str) -> None:
    assert TERMS.find(text), text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Shall we climb on Sunday?",
        "I will kill it at karaoke, yourself included",  # the words do not follow each other
        "idiomatic French",  # a term inside another word
        "sluttish",  # not a trailing plural
        "kyst",
        "a b c d",  # spelled, but no term in it
    ],
)
def test_innocent_text_raises_nothing(text: str) -> None:
    assert TERMS.find(text) == [], text


def test_every_term_found_is_named_as_listed() -> None:
    assert TERMS.find("kys, you idiot") == ["kys", "idiot"]


def test_the_setting_is_a_comma_separated_list() -> None:
    terms = TermList.parse(" Scam Link , ,free  money,scam link")
    assert [term.term for term in terms.terms] == ["Scam Link", "free  money"]
    assert terms.find("get FREE M0NEY here") == ["free  money"]
    assert TermList.parse("").find("anything at all") == []


def test_the_default_list_catches_an_obvious_insult() -> None:
    assert TermList.of(DEFAULT_TERMS).find("just k y s") == ["kys"]
