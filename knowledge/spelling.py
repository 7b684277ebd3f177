"""Typo correction of a question against the words of the passages it retrieved.

A chat message often carries a typo ("can i add a candle to the ordr"), and one unknown
word is enough to drop the right passage's answer confidence (0.85 -> 0.17 for that
message against its correct spelling): the embedding, the BM25 terms and the word
coverage all miss it. The passages a first search returns usually hold the intended
word. So a word of the question that is in neither those passages nor the language's
word list (pyspellchecker's, shipped in the package) is replaced by the passages' word
one edit away (a swap of two letters counts as one; two edits for long words) with the
same first letter, the most frequent one winning. Real words are never touched ("them",
"mais", "convient"), and neither are words nothing in the passages comes close to.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from rapidfuzz.distance import OSA

_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
MIN_LENGTH = 4


def _key(word: str) -> str:
    return unicodedata.normalize("NFKC", word).lower()


@lru_cache(maxsize=8)
def lexicon(language: str) -> frozenset[str] | None:
    """The words of `language` (lower-cased), or None when no word list ships for it."""
    from spellchecker import SpellChecker

    try:
        checker = SpellChecker(language=language, distance=1)
    except ValueError:
        return None
    return frozenset(checker.word_frequency.dictionary)


def vocabulary(texts: Iterable[str]) -> Counter[str]:
    """Lower-cased words of `texts` with their counts."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(_key(w) for w in _WORD.findall(text))
    return counts


def _closest(word: str, words: Counter[str]) -> str | None:
    limit = 1 if len(word) < 8 else 2
    best: tuple[int, int, str] | None = None
    for candidate, count in words.items():
        if candidate[0] != word[0] or abs(len(candidate) - len(word)) > limit:
            continue
        distance = OSA.distance(word, candidate, score_cutoff=limit)
        if distance <= limit and (best is None or (distance, -count) < best[:2]):
            best = (distance, -count, candidate)
    return best[2] if best else None


def correct(text: str, words: Counter[str], language: str) -> str:
    """`text` with each misspelt word (MIN_LENGTH letters or more, in neither `words` nor
    the language's word list) replaced by its closest word in `words`, if one is close.
    Text in a language without a word list is returned unchanged."""
    known = lexicon(language)
    if known is None:
        return text

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        key = _key(word)
        if len(key) < MIN_LENGTH or key in words or key in known:
            return word
        return _closest(key, words) or word
    return _WORD.sub(fix, text)
