"""BM25 sparse vectors with language-aware tokenisation (Snowball stemming).

Documents get BM25's saturated term frequency as weights; Qdrant multiplies
by the inverse document frequency at query time (`Modifier.Idf`), so the
collection's statistics are always current. Token ids are a stable 31-bit
hash of the stem, so no vocabulary has to be stored.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache

import snowballstemmer

from knowledge.store import SparseVector

_WORD = re.compile(r"[^\W_]+(?:['’][^\W_]+)?", re.UNICODE)
_ELISION = re.compile(r"^(?:l|d|j|m|n|s|t|c|qu|jusqu|lorsqu|puisqu)['’]", re.IGNORECASE)

_SNOWBALL = {"en": "english", "fr": "french", "de": "german", "es": "spanish",
             "it": "italian", "nl": "dutch", "pt": "portuguese"}

STOPWORDS: dict[str, frozenset[str]] = {
    "en": frozenset("""a about above after again against all am an and any are as at be because
        been before being below between both but by can could did do does doing down during each
        few for from further had has have having he her here hers herself him himself his how i
        if in into is it its itself just me more most my myself no nor not now of off on once
        only or other our ours ourselves out over own same she should so some such than that the
        their theirs them themselves then there these they this those through to too under until
        up very was we were what when where which while who whom why will with would you your
        yours yourself yourselves i'm i've it's don't can't hi hello please thanks""".split()),
    "fr": frozenset("""a au aux avec ce ces cet cette dans de des du elle elles en et eux il ils
        je la le les leur leurs lui ma mais me meme même mes moi mon ne nos notre nous on ou où
        par pas pour qu que qui sa se ses son sur ta te tes toi ton tu un une vos votre vous y
        été être avoir ai as avons avez ont est sont suis es êtes était ceci cela ça c ça d j l
        m n s t qu si plus moins très bonjour merci svp stp""".split()),
}
STOPWORDS["en"] = STOPWORDS["en"] | frozenset({"s", "t", "ll", "d", "re", "ve", "m"})


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


_local = threading.local()


def _stemmer(language: str) -> snowballstemmer.stemmer | None:
    """This thread's stemmer for `language`: Snowball stemmers keep state while working,
    so threads must not share one."""
    cache: dict[str, snowballstemmer.stemmer | None] = _local.__dict__.setdefault("stemmers", {})
    if language not in cache:
        name = _SNOWBALL.get(language)
        cache[language] = snowballstemmer.stemmer(name) if name else None
    return cache[language]


@lru_cache(maxsize=200_000)
def token_id(stem: str) -> int:
    """Stable 31-bit id of a stem."""
    return int.from_bytes(hashlib.blake2b(stem.encode("utf-8"), digest_size=4).digest(),
                          "little") & 0x7FFFFFFF


def tokenize(text: str, language: str, stopwords: frozenset[str] | None = None) -> list[str]:
    """Lower-cased, elision-free, stopword-free, stemmed, accent-free tokens."""
    words = []
    stop = STOPWORDS.get(language, frozenset()) if stopwords is None else stopwords
    for raw in _WORD.findall(unicodedata.normalize("NFKC", text).lower()):
        word = _ELISION.sub("", raw) if language == "fr" else raw.replace("’", "'")
        if word in stop or _strip_accents(word) in stop:
            continue
        words.append(word)
    return [stem for word in words if (stem := _stem(language, word))]


@lru_cache(maxsize=200_000)
def _stem(language: str, word: str) -> str:
    """The accent-free stem of one word (cached: the same words recur all day)."""
    stemmer = _stemmer(language)
    return _strip_accents(stemmer.stemWord(word) if stemmer is not None else word)


class BM25Encoder:
    """Encodes documents and queries into sparse vectors for Qdrant's IDF-modified index."""

    def __init__(self, k1: float = 1.2, b: float = 0.75, avg_len: float = 80.0,
                 query_languages: Sequence[str] = ("en", "fr")) -> None:
        self.k1 = k1
        self.b = b
        self.avg_len = avg_len
        self.query_languages = tuple(query_languages)

    def encode_document(self, text: str, language: str) -> SparseVector:
        tokens = tokenize(text, language)
        counts = Counter(token_id(t) for t in tokens)
        norm = self.k1 * (1 - self.b + self.b * len(tokens) / self.avg_len)
        items = sorted(counts.items())
        return SparseVector(
            indices=[i for i, _ in items],
            values=[tf * (self.k1 + 1) / (tf + norm) for _, tf in items],
        )

    def encode_query(self, text: str, languages: Iterable[str] | None = None) -> SparseVector:
        """Query tokens stemmed for every language, so a mis-detected language still matches."""
        langs = tuple(languages or self.query_languages)
        stop = frozenset().union(*(STOPWORDS.get(lang, frozenset()) for lang in langs))
        ids: set[int] = set()
        for language in langs:
            ids.update(token_id(t) for t in tokenize(text, language, stop))
        indices = sorted(ids)
        return SparseVector(indices=indices, values=[1.0] * len(indices))
