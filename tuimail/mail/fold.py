"""Text folded for search the way people type it: without accents (é, ż, å become e, z, a) and
with the letters Unicode does not decompose written as their plain neighbours (ł as l, ø as o,
ß as ss, æ as ae), so `zazolc` finds "Zażółć" and `strasse` finds "Straße".

The full-text index holds folded text and every query is folded the same way (store/search.py);
case is left to the index's tokenizer.
"""

from __future__ import annotations

import re
import unicodedata

# Letters with no Unicode decomposition to a base letter, as they are usually typed without
# their marks (German, Nordic, Polish, Croatian, Maltese, Turkish, Icelandic, Old English).
_LETTERS = str.maketrans(
    {
        "ß": "ss",
        "ẞ": "SS",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "ø": "o",
        "Ø": "O",
        "ł": "l",
        "Ł": "L",
        "đ": "d",
        "Đ": "D",
        "ð": "d",
        "Ð": "D",
        "þ": "th",
        "Þ": "TH",
        "ħ": "h",
        "Ħ": "H",
        "ı": "i",
        "ŀ": "l",
        "Ŀ": "L",
        "ŧ": "t",
        "Ŧ": "T",
        "ŋ": "n",
        "Ŋ": "N",
        "ĸ": "k",
    }
)


def has_undecomposed_letters(text: str) -> bool:
    """Whether `text` holds a letter such as ł, ø or ß, which only `fold` makes plain (the
    index's tokenizer takes accents off letters that decompose, not these)."""
    return not text.isascii() and text.translate(_LETTERS) != text


# A run of characters outside ASCII. ASCII characters are their own decomposition and never
# reorder with a combining mark (they are starters), so folding each run alone folds the text.
_NOT_ASCII = re.compile(r"[^\x00-\x7f]+")


def fold(text: str) -> str:
    """`text` without accents and with ł, ø, ß... as plain letters (see the module)."""
    if text.isascii():
        return text  # most text: nothing to fold
    # Only the runs outside ASCII are decomposed and looked at character by character: a body
    # with a few accented words is folded at the speed of the regular expression.
    return _NOT_ASCII.sub(_fold_run, text)


def _fold_run(run: re.Match[str]) -> str:
    decomposed = unicodedata.normalize("NFKD", run.group().translate(_LETTERS))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))
