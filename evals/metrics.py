"""Offline RAG metrics: our own checks plus ragas 0.4's non-LLM metrics, and the judged ones.

Our own (no model needed):
- `retrieval_recall@5`: share of the reference documents among the documents of the
  passages the turn retrieved (chunks collapse to their document, in rank order);
- `citation_validity`: every cited chunk exists in the store (looked up by filtering the
  store on the cited doc_id and matching the chunk id) and every sentence of its quote
  is in that chunk's text, whitespace, case and Markdown emphasis normalised;
- `declined`: the reply says it does not know / offers a human, and cites nothing.

From ragas 0.4.3 (the `SingleTurnSample` metrics, which take a LangChain embeddings or
chat model through ragas' wrappers):
- `IDBasedContextPrecision` / `IDBasedContextRecall` on document ids,
- `NonLLMContextPrecisionWithReference` / `NonLLMContextRecall` on reference contexts,
- `StringPresence` (per reference fact), `NonLLMStringSimilarity` (Levenshtein),
- `SemanticSimilarity` with our local embedder behind `LangchainEmbeddingsWrapper`,
- with a judge chat model: `Faithfulness`, `ResponseRelevancy` and `ResponseGroundedness`.

ragas' newer `ragas.metrics.collections` classes only accept its "modern" embeddings and
instructor-based LLMs (an OpenAI-style client), so a LangChain model cannot drive them;
the `SingleTurnSample` classes used here are the ones ragas 0.4 documents for LangChain.
"""

from __future__ import annotations

import asyncio
import math
import re
import unicodedata
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from langchain_core.embeddings import Embeddings

from knowledge.embeddings import Embedder
from knowledge.store import SearchFilter, VectorStore

_BULLET = re.compile(r"^\s*(?:[-*+•]|\d{1,2}[.)])\s+", re.MULTILINE)
_EMPHASIS = re.compile(r"\*\*|__|~~|`|\*")
_UNDERSCORE = re.compile(r"(?<![\w])_([^_\n]+)_(?![\w])")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")
_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "«": '"', "»": '"'})

DECLINE_PATTERNS = re.compile(
    r"couldn'?t find|could not find|can'?t help|cannot help|don'?t know|not sure|"
    r"connect you with|member of our (?:support )?team|"
    r"n'ai pas trouvé|ne peux pas vous aider|ne sais pas|mette en relation|"
    r"membre de notre équipe", re.IGNORECASE)


def normalise(text: str) -> str:
    """Compare-ready text: NFKC (no-break spaces become spaces), list markers and Markdown
    emphasis removed, curly quotes straightened, whitespace collapsed, case folded."""
    text = unicodedata.normalize("NFKC", text).translate(_QUOTES)
    text = _BULLET.sub("", text)
    text = _UNDERSCORE.sub(r"\1", text)
    text = _EMPHASIS.sub("", text)
    return " ".join(text.split()).casefold()


def quote_pieces(quote: str) -> list[str]:
    """The sentences of a quote: an extractive quote may join non-adjacent sentences. A
    line's list marker ("- ", "3. ") goes first, so a step number is not a sentence."""
    pieces: list[str] = []
    for line in quote.splitlines():
        pieces += [p for p in _SENTENCE_END.split(_BULLET.sub("", line.strip())) if p.strip()]
    return pieces


def quote_in_text(quote: str, text: str) -> bool:
    """True when the whole quote, or else each of its sentences, is in `text` (normalised).
    A trailing ellipsis of a truncated quote is ignored."""
    haystack = normalise(text)
    whole = normalise(quote).rstrip("…").rstrip(".").strip()
    if whole and whole in haystack:
        return True
    pieces = [normalise(p).rstrip("…").strip() for p in quote_pieces(quote)]
    pieces = [p for p in pieces if p]
    return bool(pieces) and all(p in haystack for p in pieces)


class StoreChunks:
    """Chunk texts of a document, read from the vector store by filtering on its doc_id."""

    def __init__(self, store: VectorStore, tenant: str | None = None, limit: int = 1000) -> None:
        self.store, self.tenant, self.limit = store, tenant, limit
        self._cache: dict[str, dict[str, str]] = {}

    def chunks(self, doc_id: str) -> dict[str, str]:
        """{chunk id: text} of every stored chunk of `doc_id` (empty when unknown)."""
        if doc_id not in self._cache:
            # Any vector will do: the filter selects the document's chunks and the limit
            # exceeds their number, so nothing is embedded for the lookup.
            vector = [1.0] + [0.0] * (self.store.dim - 1)
            hits = self.store.query(dense=vector, sparse=None, mode="dense", limit=self.limit,
                                    search_filter=SearchFilter(doc_ids=(doc_id,),
                                                               tenant=self.tenant))
            self._cache[doc_id] = {h.id: str(h.payload.get("text", "")) for h in hits
                                   if h.payload.get("doc_id") == doc_id}
        return self._cache[doc_id]


def check_citations(citations: Sequence[dict[str, Any]], chunks: StoreChunks
                    ) -> tuple[int, list[str]]:
    """(number of valid citations, one problem line per invalid one)."""
    valid = 0
    problems: list[str] = []
    for c in citations:
        label = f"[{c.get('index')}] {c.get('doc_id')}#{c.get('chunk_id')}"
        texts = chunks.chunks(str(c.get("doc_id", "")))
        text = texts.get(str(c.get("chunk_id", "")))
        if text is None:
            problems.append(f"{label}: no such chunk in the store")
        elif not quote_in_text(str(c.get("quote", "")), text):
            problems.append(f"{label}: quote not in the chunk: {str(c.get('quote'))[:80]!r}")
        else:
            valid += 1
    return valid, problems


def is_declined(reply: str, citations: Sequence[Any], handoff_offered: bool) -> bool:
    """The bot said it has no answer (or offered a human) and cited nothing."""
    return not citations and (handoff_offered or bool(DECLINE_PATTERNS.search(reply)))


def ranked_doc_ids(passages: Sequence[dict[str, Any]]) -> list[str]:
    """Documents of the retrieved passages, best first, each once."""
    return list(dict.fromkeys(str(p.get("doc_id", "")) for p in passages))


def finite(value: Any) -> float | None:
    """A float, or None for NaN / missing (ragas returns NaN when a score is undefined)."""
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


class EmbedderAsLangChain(Embeddings):
    """Our local embedder as a LangChain `Embeddings` (for ragas' LangchainEmbeddingsWrapper)."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [[float(x) for x in v] for v in self.embedder.embed_queries(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.embedder.embed_query(text)]


def _quiet_import() -> Any:
    """ragas' metric modules by name: `ragas.metrics` rebinds some module names to metric
    instances (e.g. `_context_precision`), so `import ... as` would get the instance."""
    import importlib

    names = ("_context_precision", "_context_recall", "_string", "_answer_similarity",
             "_faithfulness", "_answer_relevance", "_nv_metrics")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return tuple(importlib.import_module(f"ragas.metrics.{n}") for n in names)


class RagasMetrics:
    """The ragas metric objects, built once; `judge` is a LangChain chat model or None."""

    def __init__(self, embedder: Embedder, judge: Any | None = None) -> None:
        from ragas.embeddings import LangchainEmbeddingsWrapper

        precision, recall, string, similarity, faithfulness, relevance, nv = _quiet_import()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.embeddings = LangchainEmbeddingsWrapper(EmbedderAsLangChain(embedder))
            self.id_precision = precision.IDBasedContextPrecision()
            self.id_recall = recall.IDBasedContextRecall()
            self.text_precision = precision.NonLLMContextPrecisionWithReference()
            self.text_recall = recall.NonLLMContextRecall()
            self.presence = string.StringPresence()
            self.string_similarity = string.NonLLMStringSimilarity()
            self.semantic = similarity.SemanticSimilarity(embeddings=self.embeddings)
            self.judged: dict[str, Any] = {}
            if judge is not None:
                from ragas.llms import LangchainLLMWrapper

                llm = LangchainLLMWrapper(judge)
                self.judged = {
                    "faithfulness": faithfulness.Faithfulness(llm=llm),
                    "answer_relevancy": relevance.ResponseRelevancy(
                        llm=llm, embeddings=self.embeddings),
                    "response_groundedness": nv.ResponseGroundedness(llm=llm),
                }

    @staticmethod
    async def _one(metric: Any, **fields: Any) -> float | None:
        from ragas.dataset_schema import SingleTurnSample

        return finite(await metric.single_turn_ascore(SingleTurnSample(**fields)))

    async def offline(self, *, question: str, reply: str, passages: Sequence[str],
                      retrieved_ids: Sequence[str], reference: str | None,
                      reference_ids: Sequence[str], reference_contexts: Sequence[str],
                      facts: Sequence[str]) -> dict[str, float | None]:
        """The non-LLM ragas scores of one turn (None where the inputs are missing)."""
        out: dict[str, float | None] = {}
        if reference_ids:
            ids = list(retrieved_ids)
            out["context_precision"] = (await self._one(
                self.id_precision, retrieved_context_ids=ids,
                reference_context_ids=list(reference_ids))) if ids else 0.0
            out["context_recall"] = (await self._one(
                self.id_recall, retrieved_context_ids=ids,
                reference_context_ids=list(reference_ids))) if ids else 0.0
        if reference_contexts:
            contexts = list(passages)
            out["context_precision_text"] = (await self._one(
                self.text_precision, retrieved_contexts=contexts,
                reference_contexts=list(reference_contexts))) if contexts else 0.0
            out["context_recall_text"] = (await self._one(
                self.text_recall, retrieved_contexts=contexts,
                reference_contexts=list(reference_contexts))) if contexts else 0.0
        if facts:
            found = [await self._one(self.presence, reference=normalise(f),
                                     response=normalise(reply)) for f in facts]
            out["answer_string_presence"] = sum(x or 0.0 for x in found) / len(found)
        if reference:
            out["string_similarity"] = await self._one(
                self.string_similarity, reference=reference, response=reply)
            out["semantic_similarity"] = await self._one(
                self.semantic, reference=reference, response=reply)
        return out

    async def judged_scores(self, *, question: str, reply: str, passages: Sequence[str]
                            ) -> tuple[dict[str, float | None], list[str]]:
        """Faithfulness, answer relevancy and groundedness by the judge model, and the
        errors of the metrics that failed (a failing judge does not stop the run)."""
        fields = {"user_input": question, "response": reply,
                  "retrieved_contexts": list(passages) or [""]}
        out: dict[str, float | None] = {}
        errors: list[str] = []
        for name, metric in self.judged.items():
            try:
                out[name] = await self._one(metric, **fields)
            except Exception as exc:
                out[name] = None
                errors.append(f"{name}: {type(exc).__name__}: {exc}")
        return out, errors


def run_async(coro: Any) -> Any:
    """Run a coroutine from synchronous code (the CLI and the tests are synchronous). Where
    this thread already runs an event loop (a notebook, Playwright's sync API) the
    coroutine gets a loop of its own in a worker thread, since asyncio.run cannot nest."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="run_async") as pool:
        return pool.submit(asyncio.run, coro).result()
