"""`VectorStore` on the Qdrant engine running in-process (qdrant-edge-py).

The default backend: no server to run, the collection is a folder on disk.
The shard holds an exclusive lock on its folder until `close()`.

Tuning (`EdgeTuning`, measured with `bench/store_scale.py`): the engine has no
background optimizer, so new points sit in an unindexed segment until
`optimize()` / `optimize_if_needed()` runs (the `Ingestor` calls the latter after
every sync). The HNSW graph is built without per-payload-value subgraphs
(`payload_m=0`, ~6x faster to build); instead a filtered search that matches
fewer than `full_scan_points` points is answered exactly from the payload index,
scored on int8 scalar-quantized vectors and rescored on the originals.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from qdrant_edge import (
    CountRequest,
    Distance,
    EdgeConfig,
    EdgeOptimizersConfig,
    EdgeShard,
    EdgeSparseVectorParams,
    EdgeVectorParams,
    FieldCondition,
    Filter,
    HnswIndexConfig,
    MatchAny,
    MatchValue,
    Modifier,
    PayloadSchemaType,
    PayloadSelector,
    Point,
    Prefetch,
    QuantizationSearchParams,
    Query,
    QueryRequest,
    ScalarQuantizationConfig,
    ScalarType,
    ScrollRequest,
    SearchParams,
    UpdateOperation,
)
from qdrant_edge import Fusion as EdgeFusion
from qdrant_edge import SparseVector as EdgeSparseVector

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
UPSERT_BATCH = 1000
SCROLL_PAGE = 256

KEYWORD_FIELDS = ("doc_id", "doc_hash", "language", "tags", "tenant")
INTEGER_FIELDS = ("chunk_index",)

_CONFIG_FILE = "edge_config.json"


@dataclass(frozen=True)
class EdgeTuning:
    """Index and search settings of an EdgeStore; the defaults are the measured best.

    At 100k chunks (dim 384, 2 cores) these give a hybrid + payload-filter query
    p95 of ~3 ms with dense recall@10 of 1.0 against brute force, and a one-off
    index build of ~26 s (vs 154 s for the engine defaults). Thresholds are
    counted in points and converted to the engine's KB of dense vector data.
    """

    hnsw_m: int = 16
    hnsw_ef_construct: int = 100
    # 0 = no extra HNSW links per payload value: those multiply the build time
    # by ~6 and filtered searches small enough to matter go exact instead.
    payload_m: int = 0
    # A filtered search matching fewer points than this skips HNSW and scans
    # the matches (exact), which is faster than filtered HNSW at low selectivity.
    full_scan_points: int = 20_000
    # A segment holding this many unindexed points gets an HNSW graph at the
    # next optimize; below it, plain search costs well under a millisecond.
    index_after_points: int = 10_000
    # int8 scalar quantization (kept in RAM) with rescoring on the originals.
    quantize: bool = True
    oversampling: float = 2.0


DEFAULT_TUNING = EdgeTuning()


def _kb(points: int, dim: int) -> int:
    """The engine's thresholds are KB of float32 dense vectors."""
    return max(1, points * dim * 4 // 1024)


def edge_config(dim: int, tuning: EdgeTuning = DEFAULT_TUNING) -> EdgeConfig:
    """The shard layout every EdgeStore uses: cosine dense + IDF-weighted sparse."""
    quantization = (
        ScalarQuantizationConfig(ScalarType.Int8, quantile=0.99, always_ram=True)
        if tuning.quantize
        else None
    )
    return EdgeConfig(
        vectors={DENSE_VECTOR: EdgeVectorParams(size=dim, distance=Distance.Cosine)},
        sparse_vectors={SPARSE_VECTOR: EdgeSparseVectorParams(modifier=Modifier.Idf)},
        hnsw_config=HnswIndexConfig(
            m=tuning.hnsw_m,
            ef_construct=tuning.hnsw_ef_construct,
            full_scan_threshold=_kb(tuning.full_scan_points, dim),
            payload_m=tuning.payload_m,
        ),
        quantization_config=quantization,
        optimizers=EdgeOptimizersConfig(indexing_threshold=_kb(tuning.index_after_points, dim)),
    )


def check_sparse(sparse: SparseVector) -> None:
    """Reject malformed sparse vectors: the engine panics or silently accepts them."""
    if len(sparse.indices) != len(sparse.values):
        raise ValueError(
            f"sparse vector has {len(sparse.indices)} indices but {len(sparse.values)} values"
        )
    if len(set(sparse.indices)) != len(sparse.indices):
        raise ValueError("sparse vector indices must be unique")
    if any(i < 0 for i in sparse.indices):
        raise ValueError("sparse vector indices must be non-negative")


def _stored_dense_size(path: Path) -> int | None:
    """Dense size recorded in the shard's config file, if readable."""
    try:
        config = json.loads((path / _CONFIG_FILE).read_text())
        return int(config["vectors"][DENSE_VECTOR]["size"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _has_shard(path: Path) -> bool:
    segments = path / "segments"
    return (path / _CONFIG_FILE).exists() or (segments.is_dir() and any(segments.iterdir()))


def _edge_filter(search_filter: SearchFilter | None) -> Filter | None:
    if search_filter is None or search_filter.is_empty():
        return None
    must: list[Any] = []
    if search_filter.language:
        must.append(FieldCondition("language", match=MatchValue(search_filter.language)))
    if search_filter.tags:
        must.append(FieldCondition("tags", match=MatchAny(list(search_filter.tags))))
    if search_filter.tenant:
        must.append(FieldCondition("tenant", match=MatchValue(search_filter.tenant)))
    if search_filter.doc_ids:
        must.append(FieldCondition("doc_id", match=MatchAny(list(search_filter.doc_ids))))
    return Filter(must=must)


def _to_edge_sparse(sparse: SparseVector) -> EdgeSparseVector:
    check_sparse(sparse)
    return EdgeSparseVector(list(sparse.indices), [float(v) for v in sparse.values])


class EdgeStore:
    """A knowledge-base collection stored as a Qdrant Edge shard in `path`.

    Every shard call goes through one lock, so a store can be shared by threads.
    Opening an existing shard applies `tuning` to it; segments built with other
    index settings are rebuilt by the next `optimize()`.
    """

    def __init__(self, path: Path, dim: int, *, tuning: EdgeTuning = DEFAULT_TUNING) -> None:
        self.path = Path(path)
        self.dim = dim
        self.tuning = tuning
        self._dense_params = SearchParams(
            quantization=QuantizationSearchParams(rescore=True, oversampling=tuning.oversampling)
        )
        self._lock = threading.RLock()
        self._shard: EdgeShard | None = self._open()
        try:
            self._ensure_indexes()
        except BaseException:
            self.close()
            raise

    def _open(self) -> EdgeShard:
        config = edge_config(self.dim, self.tuning)
        if not _has_shard(self.path):
            self.path.mkdir(parents=True, exist_ok=True)
            return EdgeShard.create(str(self.path), config)
        stored = _stored_dense_size(self.path)
        if stored is not None and stored != self.dim:
            raise ValueError(self._dim_message(stored))
        try:
            return EdgeShard.load(str(self.path), config)
        except Exception as exc:
            message = str(exc)
            if "incompatible" in message.lower():
                raise ValueError(f"{self._dim_message(stored)} ({message})") from exc
            if "WouldBlock" in message:
                raise RuntimeError(
                    f"edge shard at {self.path} is already open; close the other EdgeStore first"
                ) from exc
            raise

    def _dim_message(self, stored: int | None) -> str:
        size = f"dense vectors of size {stored}" if stored is not None else "another layout"
        return (
            f"edge shard at {self.path} holds {size}, but this store was opened with "
            f"dim={self.dim}; use the embedding model it was built with or re-index "
            "into a new path"
        )

    def _ensure_indexes(self) -> None:
        with self._locked() as shard:
            existing = set(shard.info().payload_schema)
            for name in KEYWORD_FIELDS:
                if name not in existing:
                    shard.update(
                        UpdateOperation.create_field_index(name, PayloadSchemaType.Keyword)
                    )
            for name in INTEGER_FIELDS:
                if name not in existing:
                    shard.update(
                        UpdateOperation.create_field_index(name, PayloadSchemaType.Integer)
                    )

    @contextmanager
    def _locked(self) -> Iterator[EdgeShard]:
        with self._lock:
            if self._shard is None:
                raise RuntimeError(f"EdgeStore at {self.path} is closed")
            yield self._shard

    def upsert(self, points: Sequence[StoredPoint]) -> None:
        """Insert or replace points by id, in batches of `UPSERT_BATCH`."""
        for start in range(0, len(points), UPSERT_BATCH):
            batch = [self._to_point(p) for p in points[start : start + UPSERT_BATCH]]
            with self._locked() as shard:
                shard.update(UpdateOperation.upsert_points(batch))

    def _to_point(self, point: StoredPoint) -> Point:
        if len(point.dense) != self.dim:
            raise ValueError(
                f"point {point.id} has a dense vector of size {len(point.dense)}, "
                f"expected {self.dim}"
            )
        vectors: dict[str, Any] = {
            DENSE_VECTOR: [float(x) for x in point.dense],
            SPARSE_VECTOR: _to_edge_sparse(point.sparse),
        }
        return Point(str(point.id), vectors, dict(point.payload))

    def delete_documents(self, doc_ids: Sequence[str]) -> None:
        """Delete every chunk of the given documents."""
        if not doc_ids:
            return
        condition = FieldCondition("doc_id", match=MatchAny(list(doc_ids)))
        with self._locked() as shard:
            shard.update(UpdateOperation.delete_points_by_filter(Filter(must=[condition])))

    def delete_stale(self, doc_id: str, keep_hash: str) -> None:
        """Drop the chunks of `doc_id` left over from an older version of the document."""
        stale = Filter(
            must=[FieldCondition("doc_id", match=MatchValue(doc_id))],
            must_not=[FieldCondition("doc_hash", match=MatchValue(keep_hash))],
        )
        with self._locked() as shard:
            shard.update(UpdateOperation.delete_points_by_filter(stale))

    def document_hashes(self) -> dict[str, str]:
        """Map each stored document to its hash, read from its first chunk."""
        first_chunks = Filter(must=[FieldCondition("chunk_index", match=MatchValue(0))])
        hashes: dict[str, str] = {}
        offset: Any = None
        while True:
            request = ScrollRequest(
                offset=offset,
                limit=SCROLL_PAGE,
                filter=first_chunks,
                with_payload=PayloadSelector.Include(["doc_id", "doc_hash"]),
                with_vector=False,
            )
            with self._locked() as shard:
                records, offset = shard.scroll(request)
            for record in records:
                payload = record.payload or {}
                if "doc_id" in payload and "doc_hash" in payload:
                    hashes[str(payload["doc_id"])] = str(payload["doc_hash"])
            if offset is None:
                return hashes

    def count(self) -> int:
        """Exact number of points in the shard."""
        with self._locked() as shard:
            return int(shard.count(CountRequest(exact=True)))

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
        """Search the shard; hybrid fuses whichever of dense and sparse were given."""
        condition = _edge_filter(search_filter)
        with_vector: Any = [DENSE_VECTOR] if with_vectors else False
        retrievers = self._retrievers(dense, sparse, mode)
        if mode == "hybrid":
            fuse: Any
            if fusion == "rrf":
                fuse = EdgeFusion.Rrf(k=RRF_K)
            elif fusion == "dbsf":
                fuse = EdgeFusion.Dbsf()
            else:
                raise ValueError(f"unknown fusion {fusion!r}; expected 'rrf' or 'dbsf'")
            request = QueryRequest(
                limit=limit,
                prefetches=[
                    Prefetch(limit=prefetch_limit, query=q, filter=condition, params=params)
                    for q, params in retrievers
                ],
                query=fuse,
                filter=condition,
                with_payload=True,
                with_vector=with_vector,
            )
        else:
            query, params = retrievers[0]
            request = QueryRequest(
                limit=limit,
                query=query,
                params=params,
                filter=condition,
                with_payload=True,
                with_vector=with_vector,
            )
        with self._locked() as shard:
            scored = shard.query(request)
        return [
            Hit(
                id=str(p.id),
                score=float(p.score),
                payload=dict(p.payload or {}),
                dense=_dense_of(p.vector) if with_vectors else None,
            )
            for p in scored
        ]

    def _retrievers(
        self, dense: list[float] | None, sparse: SparseVector | None, mode: SearchMode
    ) -> list[tuple[Query, SearchParams | None]]:
        if mode not in ("hybrid", "dense", "sparse"):
            raise ValueError(f"unknown search mode {mode!r}")
        queries: list[tuple[Query, SearchParams | None]] = []
        if mode in ("hybrid", "dense") and dense is not None:
            if len(dense) != self.dim:
                raise ValueError(f"query vector has size {len(dense)}, expected {self.dim}")
            nearest = Query.Nearest([float(x) for x in dense], using=DENSE_VECTOR)
            queries.append((nearest, self._dense_params))
        if mode in ("hybrid", "sparse") and sparse is not None:
            queries.append((Query.Nearest(_to_edge_sparse(sparse), using=SPARSE_VECTOR), None))
        if not queries:
            needed = "a dense or sparse vector" if mode == "hybrid" else f"a {mode} vector"
            raise ValueError(f"{mode} search needs {needed}")
        return queries

    def optimize(self) -> bool:
        """Run the segment optimizers until done: index segments past the indexing
        threshold, merge segments, vacuum deletions, apply changed index settings.
        Blocks (~26 s for 100k fresh 384-d points on 2 cores); True if anything changed.
        """
        with self._locked() as shard:
            return bool(shard.optimize())

    def optimize_if_needed(self) -> bool:
        """`optimize()` once the collection is big enough to need an index.

        Called by the `Ingestor` after each sync. A no-op below
        `tuning.index_after_points` points (plain search is fast there); above
        it the optimizer itself only acts on segments past its thresholds, so a
        sync that wrote a few chunks costs microseconds.
        """
        with self._locked() as shard:
            if shard.info().points_count < self.tuning.index_after_points:
                return False
            return bool(shard.optimize())

    def flush(self) -> None:
        """Persist pending writes to the segment files."""
        with self._locked() as shard:
            shard.flush()

    def close(self) -> None:
        """Flush and release the shard and its folder lock; safe to call twice."""
        with self._lock:
            shard, self._shard = self._shard, None
            if shard is None:
                return
            try:
                shard.flush()
            finally:
                shard.close()

    def __enter__(self) -> EdgeStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _dense_of(vector: Any) -> list[float] | None:
    if isinstance(vector, dict):
        vector = vector.get(DENSE_VECTOR)
    return [float(x) for x in vector] if vector is not None else None
