"""Incremental ingestion: only new or changed documents are chunked and embedded.

Each stored chunk carries its document's hash. A sync compares the hashes of
the files on disk with those in the collection: unchanged documents cost
nothing, a changed document's new chunks are written before its old ones are
deleted (so it never disappears from search), and with `delete_missing` the
documents no longer on disk are removed.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from knowledge.chunking import ChunkingConfig, chunk_document
from knowledge.documents import Chunk, Document
from knowledge.embeddings import Embedder
from knowledge.loaders import DocumentLoader
from knowledge.screening import screen_text
from knowledge.sparse import BM25Encoder
from knowledge.store import StoredPoint, VectorStore

ProgressCallback = Callable[[str, int, int], None]


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    chunks_written: int = 0
    texts_embedded: int = 0
    seconds: float = 0.0
    flagged: dict[str, list[str]] = field(default_factory=dict)
    """Documents holding instruction-like text for an AI (knowledge/screening.py) -> the
    reasons; they are ingested (retrieval screens them) and listed for a person to review."""

    def summary(self) -> dict[str, float | int]:
        return {
            "added": len(self.added), "updated": len(self.updated),
            "removed": len(self.removed), "unchanged": len(self.unchanged),
            "flagged": len(self.flagged),
            "chunks_written": self.chunks_written, "texts_embedded": self.texts_embedded,
            "seconds": round(self.seconds, 3),
        }


class Ingestor:
    """Loads, chunks, embeds and writes documents into a VectorStore."""

    def __init__(self, store: VectorStore, embedder: Embedder, encoder: BM25Encoder,
                 loader: DocumentLoader, chunking: ChunkingConfig | None = None,
                 batch_size: int = 128) -> None:
        self.store = store
        self.embedder = embedder
        self.encoder = encoder
        self.loader = loader
        self.chunking = chunking or ChunkingConfig()
        self.batch_size = batch_size

    def index_hash(self, doc: Document) -> str:
        """The document's content hash combined with everything that shapes its points."""
        parts = (doc.content_hash, self.embedder.name, str(self.chunking.max_chars),
                 str(self.chunking.overlap_chars), str(self.chunking.min_chars),
                 f"{self.encoder.k1}/{self.encoder.b}/{self.encoder.avg_len}")
        return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]

    def ingest_paths(self, paths: Sequence[Path], *, delete_missing: bool = False,
                     progress: ProgressCallback | None = None,
                     base_url: str | None = None) -> IngestReport:
        """Load every file first (a malformed one aborts before any write), then sync.

        `base_url` makes each document's source `base_url/relative-path`, so citations
        link to the published article instead of a local file.
        """
        loader = self.loader
        if base_url is not None:
            loader = DocumentLoader(loader.languages, loader.default_language, loader.tenant,
                                    base_url)
        docs = loader.load_paths(paths)
        return self.ingest_documents(docs, delete_missing=delete_missing, progress=progress)

    def ingest_documents(self, docs: Sequence[Document], *, delete_missing: bool = False,
                         progress: ProgressCallback | None = None) -> IngestReport:
        started = time.perf_counter()
        embedded_before = self.embedder.texts_embedded
        report = IngestReport()
        report.flagged = {doc.id: list(found.reasons) for doc in docs
                          if (found := screen_text(doc.text)).suspicious}
        stored = self.store.document_hashes()
        todo: list[tuple[Document, str]] = []
        for doc in docs:
            new_hash = self.index_hash(doc)
            old_hash = stored.get(doc.id)
            if old_hash == new_hash:
                report.unchanged.append(doc.id)
                continue
            (report.updated if old_hash else report.added).append(doc.id)
            todo.append((doc, new_hash))
        if delete_missing:
            prefix = f"{self.loader.tenant}:" if self.loader.tenant != "default" else ""
            present = {d.id for d in docs}
            report.removed = sorted(
                d for d in stored
                if d not in present and (d.startswith(prefix) if prefix else ":" not in d)
            )
        total = len(todo)
        if progress:
            progress("embedding", 0, total)
        group: list[tuple[Document, str, list[Chunk]]] = []
        pending = 0
        for done, (doc, doc_hash) in enumerate(todo, 1):
            chunks = chunk_document(doc, self.chunking)
            group.append((doc, doc_hash, chunks))
            pending += len(chunks)
            if pending >= self.batch_size or done == total:
                report.chunks_written += self._write(group)
                group, pending = [], 0
                if progress:
                    progress("embedding", done, total)
        if report.removed:
            self.store.delete_documents(report.removed)
        self.store.flush()
        # Backends that index lazily (EdgeStore) build their index here, so search
        # stays fast after a big ingest; a no-op for small syncs and for servers.
        optimize_if_needed = getattr(self.store, "optimize_if_needed", None)
        if optimize_if_needed is not None:
            optimize_if_needed()
        report.texts_embedded = self.embedder.texts_embedded - embedded_before
        report.seconds = time.perf_counter() - started
        return report

    def _write(self, group: list[tuple[Document, str, list[Chunk]]]) -> int:
        """Embed and upsert a group of documents' chunks, then drop their old versions."""
        items = [(doc, doc_hash, chunk) for doc, doc_hash, chunks in group for chunk in chunks]
        texts = [chunk.embedding_text(doc.title) for doc, _, chunk in items]
        vectors = self.embedder.embed_documents(texts)
        points = [
            StoredPoint(
                id=chunk.point_id(doc_hash),
                dense=vector.tolist(),
                sparse=self.encoder.encode_document(text, doc.language),
                payload=_payload(doc, doc_hash, chunk),
            )
            for (doc, doc_hash, chunk), text, vector in zip(items, texts, vectors, strict=True)
        ]
        for start in range(0, len(points), 256):
            self.store.upsert(points[start:start + 256])
        for doc, doc_hash, _ in group:
            self.store.delete_stale(doc.id, doc_hash)
        return len(points)


def _payload(doc: Document, doc_hash: str, chunk: Chunk) -> dict[str, object]:
    screening = screen_text(chunk.text)
    return {
        "doc_id": doc.id,
        "doc_hash": doc_hash,
        "chunk_index": chunk.index,
        "title": doc.title,
        "source": doc.source,
        "language": doc.language,
        "tags": list(doc.tags),
        "tenant": doc.tenant,
        "updated_at": doc.updated_at,
        "format": doc.format,
        "heading_path": list(chunk.heading_path),
        "text": chunk.text,
        "metadata": doc.metadata,
        "suspicious": bool(screening.reasons),
        "screening": list(screening.reasons),
    }
