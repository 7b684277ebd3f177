"""The contract every `VectorStore` backend must honour, run against each of them.

Vectors are small synthetic ones (dim 8, fixed seed), so no embedding model loads.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient

from knowledge.edge_store import EdgeStore
from knowledge.server_store import QdrantServerStore
from knowledge.store import SearchFilter, SparseVector, StoredPoint, VectorStore

DIM = 8
COMMON_TOKEN = 1
RARE_TOKEN = 999

Opener = Callable[..., VectorStore]


def unit(v: np.ndarray) -> list[float]:
    return [float(x) for x in v / np.linalg.norm(v)]


def random_unit(rng: np.random.Generator) -> list[float]:
    return unit(rng.standard_normal(DIM))


def point(
    dense: list[float],
    *,
    sparse: dict[int, float] | None = None,
    doc_id: str = "doc",
    doc_hash: str = "h1",
    chunk_index: int = 0,
    language: str = "en",
    tags: tuple[str, ...] = (),
    tenant: str = "acme",
    point_id: str | None = None,
    **extra: Any,
) -> StoredPoint:
    tokens = sparse if sparse is not None else {COMMON_TOKEN: 1.0}
    return StoredPoint(
        id=point_id or str(uuid.uuid4()),
        dense=dense,
        sparse=SparseVector(indices=list(tokens), values=list(tokens.values())),
        payload={
            "doc_id": doc_id,
            "doc_hash": doc_hash,
            "chunk_index": chunk_index,
            "language": language,
            "tags": list(tags),
            "tenant": tenant,
            **extra,
        },
    )


@pytest.fixture(params=["edge", "server"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the backend under test at a fixed location; reopening reaches the same data."""
    opened: list[VectorStore] = []

    def _open(dim: int = DIM) -> VectorStore:
        store: VectorStore
        if request.param == "edge":
            store = EdgeStore(tmp_path / "shard", dim)
        else:
            client = QdrantClient(path=str(tmp_path / "local"))
            try:
                store = QdrantServerStore(client, "kb", dim)
            except BaseException:
                client.close()
                raise
        opened.append(store)
        return store

    yield _open
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: Opener) -> VectorStore:
    return open_store()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


def ids(hits: list[Any]) -> list[str]:
    return [h.id for h in hits]


def assert_descending(hits: list[Any]) -> None:
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)


def test_upsert_and_count(store: VectorStore, rng: np.random.Generator) -> None:
    assert store.count() == 0
    store.upsert([point(random_unit(rng), chunk_index=i) for i in range(25)])
    assert store.count() == 25


def test_dense_query_returns_exact_nearest_first(
    store: VectorStore, rng: np.random.Generator
) -> None:
    vectors = [random_unit(rng) for _ in range(60)]
    points = [point(v) for v in vectors]
    store.upsert(points)
    target = 17
    query = unit(np.array(vectors[target]) + 0.05 * rng.standard_normal(DIM))
    exact = np.argsort(-(np.array(vectors) @ np.array(query)))[:5]

    hits = store.query(dense=query, sparse=None, mode="dense", limit=5)

    assert hits[0].id == points[target].id
    assert ids(hits) == [points[i].id for i in exact]
    assert hits[0].score == pytest.approx(float(np.dot(vectors[target], query)), abs=1e-4)
    assert_descending(hits)


def test_sparse_query_weighs_rare_tokens_by_idf(
    store: VectorStore, rng: np.random.Generator
) -> None:
    heavy_common = point(random_unit(rng), sparse={COMMON_TOKEN: 3.0})
    rare = point(random_unit(rng), sparse={COMMON_TOKEN: 1.0, RARE_TOKEN: 1.0})
    others = [point(random_unit(rng), sparse={COMMON_TOKEN: 1.0, 10 + i: 1.0}) for i in range(8)]
    store.upsert([heavy_common, rare, *others])

    hits = store.query(
        dense=None,
        sparse=SparseVector(indices=[COMMON_TOKEN, RARE_TOKEN], values=[1.0, 1.0]),
        mode="sparse",
        limit=10,
    )

    # Raw dot products would rank heavy_common first (3.0 > 2.0); IDF reverses that.
    assert hits[0].id == rare.id
    assert hits[1].id == heavy_common.id
    assert hits[0].score > 2 * hits[1].score
    assert_descending(hits)


@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
def test_hybrid_fuses_both_retrievers(
    store: VectorStore, rng: np.random.Generator, fusion: Any
) -> None:
    query = np.array(random_unit(rng))
    dense_best = point(unit(query + 0.05 * rng.standard_normal(DIM)), sparse={COMMON_TOKEN: 1.0})
    both = point(
        unit(query + 0.15 * rng.standard_normal(DIM)),
        sparse={COMMON_TOKEN: 1.0, RARE_TOKEN: 0.5},
    )
    sparse_best = point(unit(-query), sparse={COMMON_TOKEN: 1.0, RARE_TOKEN: 1.0})
    fillers = []
    for _ in range(20):
        v = rng.standard_normal(DIM)
        v -= 0.5 * np.dot(v, query) * query
        fillers.append(point(unit(v), sparse={COMMON_TOKEN: 1.0}))
    store.upsert([dense_best, both, sparse_best, *fillers])
    sparse_query = SparseVector(indices=[RARE_TOKEN], values=[1.0])

    dense_hits = store.query(dense=list(query), sparse=None, mode="dense", limit=5)
    sparse_hits = store.query(dense=None, sparse=sparse_query, mode="sparse", limit=5)
    assert ids(dense_hits)[:2] == [dense_best.id, both.id]
    assert sparse_best.id not in ids(dense_hits)
    assert ids(sparse_hits) == [sparse_best.id, both.id]

    hits = store.query(
        dense=list(query),
        sparse=sparse_query,
        mode="hybrid",
        limit=3,
        prefetch_limit=5,
        fusion=fusion,
    )

    assert hits[0].id == both.id
    assert set(ids(hits)) == {both.id, dense_best.id, sparse_best.id}
    assert_descending(hits)


def test_hybrid_with_one_vector_still_answers(store: VectorStore, rng: np.random.Generator) -> None:
    vectors = [random_unit(rng) for _ in range(10)]
    points = [point(v) for v in vectors]
    store.upsert(points)

    hits = store.query(dense=vectors[3], sparse=None, mode="hybrid", limit=3)

    assert hits[0].id == points[3].id


def test_mode_without_its_vector_is_rejected(store: VectorStore) -> None:
    with pytest.raises(ValueError):
        store.query(dense=None, sparse=None, mode="hybrid")
    with pytest.raises(ValueError):
        store.query(dense=None, sparse=SparseVector([1], [1.0]), mode="dense")


FILTER_CORPUS = [
    # (doc_id, language, tags, tenant)
    ("d1", "en", ("billing",), "acme"),
    ("d2", "fr", ("billing", "refunds"), "acme"),
    ("d3", "en", ("shipping",), "globex"),
    ("d4", "fr", (), "globex"),
    ("d5", "en", ("refunds",), "acme"),
    ("d6", "de", ("shipping", "billing"), "initech"),
]


def _matches(row: tuple[str, str, tuple[str, ...], str], f: SearchFilter) -> bool:
    doc_id, language, tags, tenant = row
    return (
        (f.language is None or language == f.language)
        and (not f.tags or bool(set(tags) & set(f.tags)))
        and (f.tenant is None or tenant == f.tenant)
        and (not f.doc_ids or doc_id in f.doc_ids)
    )


@pytest.mark.parametrize(
    "search_filter",
    [
        SearchFilter(language="fr"),
        SearchFilter(tags=("billing",)),
        SearchFilter(tags=("refunds", "shipping")),
        SearchFilter(tenant="globex"),
        SearchFilter(doc_ids=("d2", "d3")),
        SearchFilter(language="en", tenant="acme", tags=("refunds",)),
        SearchFilter(language="xx"),
    ],
    ids=["language", "tag", "any-tag", "tenant", "doc_ids", "combined", "no-match"],
)
@pytest.mark.parametrize("mode", ["hybrid", "dense", "sparse"])
def test_filter_excludes_everything_else(
    store: VectorStore, rng: np.random.Generator, search_filter: SearchFilter, mode: Any
) -> None:
    points = []
    for row in FILTER_CORPUS:
        doc_id, language, tags, tenant = row
        for chunk in range(3):
            points.append(
                point(
                    random_unit(rng),
                    doc_id=doc_id,
                    chunk_index=chunk,
                    language=language,
                    tags=tags,
                    tenant=tenant,
                )
            )
    store.upsert(points)
    expected = {
        p.id
        for p, row in zip(points, [r for r in FILTER_CORPUS for _ in range(3)], strict=True)
        if _matches(row, search_filter)
    }

    hits = store.query(
        dense=random_unit(rng),
        sparse=SparseVector(indices=[COMMON_TOKEN], values=[1.0]),
        mode=mode,
        limit=100,
        prefetch_limit=100,
        search_filter=search_filter,
    )

    assert set(ids(hits)) == expected
    assert_descending(hits)


def _docs(
    rng: np.random.Generator, n_docs: int, chunks: int, doc_hash: str = "h1"
) -> list[StoredPoint]:
    return [
        point(random_unit(rng), doc_id=f"doc-{d}", doc_hash=f"{doc_hash}-{d}", chunk_index=c)
        for d in range(n_docs)
        for c in range(chunks)
    ]


def test_delete_documents_removes_exactly_those(
    store: VectorStore, rng: np.random.Generator
) -> None:
    store.upsert(_docs(rng, n_docs=5, chunks=3))

    store.delete_documents(["doc-1", "doc-3"])
    store.delete_documents([])

    assert store.count() == 9
    assert set(store.document_hashes()) == {"doc-0", "doc-2", "doc-4"}
    hits = store.query(
        dense=random_unit(rng),
        sparse=SparseVector(indices=[COMMON_TOKEN], values=[1.0]),
        limit=100,
        prefetch_limit=100,
    )
    assert {h.payload["doc_id"] for h in hits} == {"doc-0", "doc-2", "doc-4"}


def test_delete_stale_keeps_new_version_only(store: VectorStore, rng: np.random.Generator) -> None:
    old = [point(random_unit(rng), doc_id="faq", doc_hash="old", chunk_index=c) for c in range(3)]
    other = [
        point(random_unit(rng), doc_id="other", doc_hash="old", chunk_index=c) for c in range(2)
    ]
    store.upsert(old + other)
    new = [point(random_unit(rng), doc_id="faq", doc_hash="new", chunk_index=c) for c in range(2)]
    store.upsert(new)

    store.delete_stale("faq", keep_hash="new")

    assert store.count() == 4
    assert store.document_hashes() == {"faq": "new", "other": "old"}
    hits = store.query(
        dense=random_unit(rng),
        sparse=None,
        mode="dense",
        limit=100,
        search_filter=SearchFilter(doc_ids=("faq",)),
    )
    assert set(ids(hits)) == {p.id for p in new}


def test_document_hashes_reads_first_chunks_across_pages(
    store: VectorStore, rng: np.random.Generator
) -> None:
    # More documents than one scroll page (256) to exercise pagination.
    store.upsert(_docs(rng, n_docs=300, chunks=2))

    hashes = store.document_hashes()

    assert hashes == {f"doc-{d}": f"h1-{d}" for d in range(300)}


def test_upsert_same_id_replaces(store: VectorStore, rng: np.random.Generator) -> None:
    first, second = random_unit(rng), random_unit(rng)
    point_id = str(uuid.uuid4())
    store.upsert([point(first, point_id=point_id, text="old")])
    store.upsert([point(random_unit(rng)) for _ in range(5)])

    store.upsert([point(second, point_id=point_id, text="new", doc_hash="h2")])

    assert store.count() == 6
    hits = store.query(dense=second, sparse=None, mode="dense", limit=1, with_vectors=True)
    assert hits[0].id == point_id
    assert hits[0].payload["text"] == "new"
    assert hits[0].dense == pytest.approx(second, abs=1e-5)


def test_with_vectors_returns_the_stored_dense_vector(
    store: VectorStore, rng: np.random.Generator
) -> None:
    vectors = [random_unit(rng) for _ in range(5)]
    points = [point(v) for v in vectors]
    store.upsert(points)
    by_id = {p.id: p.dense for p in points}

    for mode in ("dense", "hybrid"):
        hits = store.query(
            dense=vectors[2],
            sparse=SparseVector([COMMON_TOKEN], [1.0]),
            mode=mode,
            limit=5,
            with_vectors=True,
        )
        assert len(hits) == 5
        for hit in hits:
            assert hit.dense == pytest.approx(by_id[hit.id], abs=1e-5)

    plain = store.query(dense=vectors[2], sparse=None, mode="dense", limit=5)
    assert all(h.dense is None for h in plain)


def test_payload_round_trips(store: VectorStore, rng: np.random.Generator) -> None:
    p = point(random_unit(rng), tags=("a", "b"), text="How do refunds work?", title="Refunds")
    store.upsert([p])

    hit = store.query(dense=p.dense, sparse=None, mode="dense", limit=1)[0]

    assert hit.payload == p.payload


def test_data_survives_close_and_reopen(open_store: Opener, rng: np.random.Generator) -> None:
    store = open_store()
    points = _docs(rng, n_docs=4, chunks=3)
    store.upsert(points)
    store.delete_documents(["doc-2"])
    store.flush()
    store.close()

    reopened = open_store()

    assert reopened.count() == 9
    assert set(reopened.document_hashes()) == {"doc-0", "doc-1", "doc-3"}
    hits = reopened.query(dense=points[4].dense, sparse=None, mode="dense", limit=1)
    assert hits[0].id == points[4].id
    reopened.upsert([point(random_unit(rng), doc_id="doc-9")])
    assert reopened.count() == 10


def test_reopen_with_other_dim_raises(open_store: Opener, rng: np.random.Generator) -> None:
    store = open_store()
    store.upsert([point(random_unit(rng))])
    store.close()

    with pytest.raises(ValueError, match="size 8"):
        open_store(dim=DIM * 2)

    assert open_store().count() == 1


def test_wrong_sized_vectors_are_rejected(store: VectorStore, rng: np.random.Generator) -> None:
    with pytest.raises(ValueError):
        store.upsert([point([1.0] * (DIM + 1))])
    with pytest.raises(ValueError):
        store.query(dense=[1.0] * (DIM - 1), sparse=None, mode="dense")
    assert store.count() == 0


def test_concurrent_threads_share_a_store(store: VectorStore, rng: np.random.Generator) -> None:
    seeds = [random_unit(rng) for _ in range(20)]
    store.upsert([point(v) for v in seeds])
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        local_rng = np.random.default_rng(n)
        try:
            for i in range(10):
                store.upsert([point(random_unit(local_rng), doc_id=f"w{n}", chunk_index=i)])
        except BaseException as exc:
            errors.append(exc)

    def reader() -> None:
        try:
            for v in seeds:
                hits = store.query(dense=v, sparse=SparseVector([COMMON_TOKEN], [1.0]), limit=3)
                assert hits
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(3)]
    threads += [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert store.count() == 20 + 3 * 10


def test_edge_store_releases_its_folder_on_close(tmp_path: Path) -> None:
    first = EdgeStore(tmp_path / "shard", DIM)
    with pytest.raises(RuntimeError, match="already open"):
        EdgeStore(tmp_path / "shard", DIM)
    first.close()
    first.close()

    with EdgeStore(tmp_path / "shard", DIM) as second:
        assert second.count() == 0
    with pytest.raises(RuntimeError, match="closed"):
        second.count()
