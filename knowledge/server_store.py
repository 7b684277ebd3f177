"""`VectorStore` on a Qdrant server or cluster, through qdrant-client.

For deployments that already run Qdrant, or that need several processes to
share one knowledge base. It also runs on qdrant-client's local mode
(`QdrantClient(path=...)`), which the contract tests use.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any

from qdrant_client import QdrantClient, models

from knowledge.store import (
    DENSE_VECTOR,
    SPARSE_VECTOR,
    Fusion,
    Hit,
    SearchFilter,
    SearchMode,
    SparseVector,
    StoredPoint,
)

RRF_K = 60
UPSERT_BATCH = 500
SCROLL_PAGE = 256

KEYWORD_FIELDS = ("doc_id", "doc_hash", "language", "tags", "tenant")
INTEGER_FIELDS = ("chunk_index",)


def _is_local(client: QdrantClient) -> bool:
    """Whether the client runs qdrant-client's in-process local mode (not thread-safe)."""
    options = client.init_options
    return options.get("path") is not None or options.get("location") == ":memory:"


def _server_filter(search_filter: SearchFilter | None) -> models.Filter | None:
    if search_filter is None or search_filter.is_empty():
        return None
    must: list[models.Condition] = []
    if search_filter.language:
        must.append(
            models.FieldCondition(
                key="language", match=models.MatchValue(value=search_filter.language)
            )
        )
    if search_filter.tags:
        must.append(
            models.FieldCondition(key="tags", match=models.MatchAny(any=list(search_filter.tags)))
        )
    if search_filter.tenant:
        must.append(
            models.FieldCondition(key="tenant", match=models.MatchValue(value=search_filter.tenant))
        )
    if search_filter.doc_ids:
        must.append(
            models.FieldCondition(
                key="doc_id", match=models.MatchAny(any=list(search_filter.doc_ids))
            )
        )
    return models.Filter(must=must)


def _to_sparse(sparse: SparseVector) -> models.SparseVector:
    return models.SparseVector(
        indices=list(sparse.indices), values=[float(v) for v in sparse.values]
    )


class QdrantServerStore:
    """A knowledge-base collection in Qdrant reached through `client`.

    The store owns the client: `close()` closes it.
    """

    def __init__(self, client: QdrantClient, collection: str, dim: int) -> None:
        self.client = client
        self.collection = collection
        self.dim = dim
        self._local = _is_local(client)
        self._lock = threading.RLock()
        self._ensure_collection()

    @classmethod
    def from_url(
        cls, url: str, api_key: str | None, collection: str, dim: int
    ) -> QdrantServerStore:
        """Connect to a Qdrant server and open (or create) `collection` there."""
        client = QdrantClient(url=url, api_key=api_key)
        try:
            return cls(client, collection, dim)
        except BaseException:
            client.close()
            raise

    @contextmanager
    def _serialised(self) -> Iterator[None]:
        """Serialise calls in local mode, whose in-process engine is not thread-safe."""
        with self._lock if self._local else nullcontext():
            yield

    def _ensure_collection(self) -> None:
        with self._serialised():
            if not self.client.collection_exists(self.collection):
                try:
                    self.client.create_collection(
                        self.collection,
                        vectors_config={
                            DENSE_VECTOR: models.VectorParams(
                                size=self.dim, distance=models.Distance.COSINE
                            )
                        },
                        sparse_vectors_config={
                            SPARSE_VECTOR: models.SparseVectorParams(modifier=models.Modifier.IDF)
                        },
                    )
                except Exception:
                    if not self.client.collection_exists(self.collection):
                        raise
            info = self.client.get_collection(self.collection)
        self._check_layout(info)
        if not self._local:
            self._ensure_indexes(set(info.payload_schema))

    def _check_layout(self, info: models.CollectionInfo) -> None:
        vectors = info.config.params.vectors
        dense = vectors.get(DENSE_VECTOR) if isinstance(vectors, dict) else None
        if dense is None:
            raise ValueError(
                f"collection {self.collection!r} has no dense vector named {DENSE_VECTOR!r}"
            )
        if dense.size != self.dim:
            raise ValueError(
                f"collection {self.collection!r} holds dense vectors of size {dense.size}, "
                f"but this store was opened with dim={self.dim}; use the embedding model "
                "it was built with or re-index into a new collection"
            )
        sparse = info.config.params.sparse_vectors or {}
        if SPARSE_VECTOR not in sparse:
            raise ValueError(
                f"collection {self.collection!r} has no sparse vector named {SPARSE_VECTOR!r}"
            )

    def _ensure_indexes(self, existing: set[str]) -> None:
        wanted = [(name, models.PayloadSchemaType.KEYWORD) for name in KEYWORD_FIELDS] + [
            (name, models.PayloadSchemaType.INTEGER) for name in INTEGER_FIELDS
        ]
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Payload indexes have no effect")
            for name, schema in wanted:
                if name not in existing:
                    self.client.create_payload_index(
                        self.collection, field_name=name, field_schema=schema, wait=True
                    )

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Insert or replace points by id, in batches of `UPSERT_BATCH`."""
        for start in range(0, len(points), UPSERT_BATCH):
            batch = [self._to_point(p) for p in points[start : start + UPSERT_BATCH]]
            with self._serialised():
                self.client.upsert(self.collection, points=batch, wait=True)

    def _to_point(self, point: StoredPoint) -> models.PointStruct:
        if len(point.dense) != self.dim:
            raise ValueError(
                f"point {point.id} has a dense vector of size {len(point.dense)}, "
                f"expected {self.dim}"
            )
        return models.PointStruct(
            id=str(point.id),
            vector={
                DENSE_VECTOR: [float(x) for x in point.dense],
                SPARSE_VECTOR: _to_sparse(point.sparse),
            },
            payload=dict(point.payload),
        )

    def _delete(self, condition: models.Filter) -> None:
        with self._serialised():
            self.client.delete(
                self.collection,
                points_selector=models.FilterSelector(filter=condition),
                wait=True,
            )

    def delete_documents(self, doc_ids: Sequence[str]) -> None:
        """Delete every chunk of the given documents."""
        if not doc_ids:
            return
        self._delete(
            models.Filter(
                must=[models.FieldCondition(key="doc_id", match=models.MatchAny(any=list(doc_ids)))]
            )
        )

    def delete_stale(self, doc_id: str, keep_hash: str) -> None:
        """Drop the chunks of `doc_id` left over from an older version of the document."""
        self._delete(
            models.Filter(
                must=[models.FieldCondition(key="doc_id", match=models.MatchValue(value=doc_id))],
                must_not=[
                    models.FieldCondition(key="doc_hash", match=models.MatchValue(value=keep_hash))
                ],
            )
        )

    def document_hashes(self) -> dict[str, str]:
        """Map each stored document to its hash, read from its first chunk."""
        first_chunks = models.Filter(
            must=[models.FieldCondition(key="chunk_index", match=models.MatchValue(value=0))]
        )
        hashes: dict[str, str] = {}
        offset: Any = None
        while True:
            with self._serialised():
                records, offset = self.client.scroll(
                    self.collection,
                    scroll_filter=first_chunks,
                    limit=SCROLL_PAGE,
                    offset=offset,
                    with_payload=["doc_id", "doc_hash"],
                    with_vectors=False,
                )
            for record in records:
                payload = record.payload or {}
                if "doc_id" in payload and "doc_hash" in payload:
                    hashes[str(payload["doc_id"])] = str(payload["doc_hash"])
            if offset is None:
                return hashes

    def count(self) -> int:
        """Exact number of points in the collection."""
        with self._serialised():
            return self.client.count(self.collection, exact=True).count

    def query(
        self,
        *,
        dense: list[float] | None,
        sparse: SparseVector | None,
        mode: SearchMode = "hybrid",
        limit: int = 10,
        prefetch_limit: int = 50,
        fusion: Fusion = "rrf",
        search_filter: SearchFilter | None = None,
        with_vectors: bool = False,
    ) -> list[Hit]:
        """Search with `query_points`; hybrid fuses whichever of dense and sparse were given."""
        condition = _server_filter(search_filter)
        with_vector: Any = [DENSE_VECTOR] if with_vectors else False
        retrievers = self._retrievers(dense, sparse, mode)
        if mode == "hybrid":
            fuse: models.Query
            if fusion == "rrf":
                fuse = models.RrfQuery(rrf=models.Rrf(k=RRF_K))
            elif fusion == "dbsf":
                fuse = models.FusionQuery(fusion=models.Fusion.DBSF)
            else:
                raise ValueError(f"unknown fusion {fusion!r}; expected 'rrf' or 'dbsf'")
            prefetch = [
                models.Prefetch(query=q, using=using, limit=prefetch_limit, filter=condition)
                for q, using in retrievers
            ]
            with self._serialised():
                response = self.client.query_points(
                    self.collection,
                    prefetch=prefetch,
                    query=fuse,
                    query_filter=condition,
                    limit=limit,
                    with_payload=True,
                    with_vectors=with_vector,
                )
        else:
            query, using = retrievers[0]
            with self._serialised():
                response = self.client.query_points(
                    self.collection,
                    query=query,
                    using=using,
                    query_filter=condition,
                    limit=limit,
                    with_payload=True,
                    with_vectors=with_vector,
                )
        return [
            Hit(
                id=str(p.id),
                score=float(p.score),
                payload=dict(p.payload or {}),
                dense=_dense_of(p.vector) if with_vectors else None,
            )
            for p in response.points
        ]

    def _retrievers(
        self, dense: list[float] | None, sparse: SparseVector | None, mode: SearchMode
    ) -> list[tuple[Any, str]]:
        if mode not in ("hybrid", "dense", "sparse"):
            raise ValueError(f"unknown search mode {mode!r}")
        queries: list[tuple[Any, str]] = []
        if mode in ("hybrid", "dense") and dense is not None:
            if len(dense) != self.dim:
                raise ValueError(f"query vector has size {len(dense)}, expected {self.dim}")
            queries.append(([float(x) for x in dense], DENSE_VECTOR))
        if mode in ("hybrid", "sparse") and sparse is not None:
            queries.append((_to_sparse(sparse), SPARSE_VECTOR))
        if not queries:
            needed = "a dense or sparse vector" if mode == "hybrid" else f"a {mode} vector"
            raise ValueError(f"{mode} search needs {needed}")
        return queries

    def flush(self) -> None:
        """Nothing to do: the server persists each acknowledged write itself."""

    def close(self) -> None:
        """Close the client (and, in local mode, release its folder lock)."""
        with self._serialised():
            self.client.close()


def _dense_of(vector: Any) -> list[float] | None:
    if isinstance(vector, dict):
        vector = vector.get(DENSE_VECTOR)
    if vector is None:
        return None
    return [float(x) for x in vector]
