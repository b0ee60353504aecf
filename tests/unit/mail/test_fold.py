"""Text folded for search (mail/fold.py): accents off, and the letters Unicode does not
decompose written as people type them without their marks."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from tuimail.mail.fold import _LETTERS, fold, has_undecomposed_letters


def test_accents_and_undecomposed_letters_fold_to_plain_ones() -> None:
    assert fold("Zażółć gęślą jaźń") == "Zazolc gesla jazn"
    assert fold("Straße") == "Strasse"
    assert fold("Øresund, Ærø, œuvre") == "Oresund, AEro, oeuvre"
    assert fold("Đorđe, Þór, Hħ, ı") == "Dorde, THor, Hh, i"
    assert fold("crème brûlée") == "creme brulee"
    assert fold("ﬁle ＡＢＣ ¹") == "file ABC 1", "compatibility forms as their plain letters"


def test_plain_text_is_left_as_it_is() -> None:
    text = "Release 2.4 (final) <alice@example.org>"
    assert fold(text) is text
    assert not has_undecomposed_letters(text)
    assert not has_undecomposed_letters("crème"), "é decomposes: the tokenizer folds it"
    assert has_undecomposed_letters("Zażółć")


@given(st.text())
def test_folding_twice_changes_nothing_more(text: str) -> None:
    once = fold(text)
    assert fold(once) == once


def _fold_whole(text: str) -> str:
    """The fold of the whole text at once, character by character (fold does it by runs)."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@given(st.text(alphabet=st.characters(codec="utf-8")) | st.text("ae e\u0301\u0323\u0308łß"))
def test_folding_by_runs_is_folding_the_whole_text(text: str) -> None:
    # Combining marks after an ASCII letter, marks to reorder, and text of any script.
    assert fold(text) == _fold_whole(text)
