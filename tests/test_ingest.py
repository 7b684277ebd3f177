"""Ingestion: every format loads, chunks keep their headings, sync is incremental,
and malformed input is refused without touching what is stored."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from knowledge.chunking import ChunkingConfig, chunk_document
from knowledge.documents import IngestError
from knowledge.loaders import DocumentLoader
from supportgraph.runtime import KnowledgeServices

SMALL = Path(__file__).parent / "data" / "helpcenter_small"


def _minimal_pdf(text: str) -> bytes:
    """A one-page PDF with `text` in Helvetica, built by hand (no writer library needed)."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + obj + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1, xref)
    return bytes(out)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    shutil.copytree(SMALL, root)
    return root


def test_every_format_loads_with_id_title_source_language_tags_and_date(corpus: Path) -> None:
    (corpus / "guide.pdf").write_bytes(_minimal_pdf("Deliveries leave our warehouse on Mondays."))
    docs = {d.id: d for d in DocumentLoader().load_paths([corpus])}
    formats = {d.format for d in docs.values()}
    assert formats == {"markdown", "html", "text", "pdf", "faq"}
    for doc in docs.values():
        assert doc.title and doc.source and doc.updated_at
        assert doc.language in {"en", "fr"}
    assert "Mondays" in docs["guide"].text
    md = docs["en/delivery-schedule"]
    assert md.tags and md.language == "en"
    assert {d.language for d in docs.values() if d.id.startswith("fr/")} == {"fr"}
    faq_ids = [i for i in docs if i.startswith("faq#")]
    assert len(faq_ids) == 7  # 4 JSONL lines + 3 CSV rows


def test_chunks_carry_their_heading_path_and_respect_the_size_limit(corpus: Path) -> None:
    doc = next(d for d in DocumentLoader().load_paths([corpus]) if d.id == "en/delivery-schedule")
    config = ChunkingConfig(max_chars=300, overlap_chars=60)
    chunks = chunk_document(doc, config)
    assert len(chunks) >= 2
    assert all(len(c.text) <= 300 for c in chunks)
    with_path = [c for c in chunks if c.heading_path]
    intro = [c for c in chunks if not c.heading_path]
    assert with_path and all(c.index < with_path[0].index for c in intro)
    headings = [line[3:].strip() for line in doc.text.splitlines() if line.startswith("## ")]
    assert {c.heading_path[0] for c in with_path} == set(headings)


def test_html_headings_become_sections(corpus: Path) -> None:
    doc = next(d for d in DocumentLoader().load_paths([corpus]) if d.format == "html")
    chunks = chunk_document(doc)
    assert any(c.heading_path for c in chunks)


def test_reingesting_an_unchanged_folder_embeds_nothing(kb: KnowledgeServices,
                                                        corpus: Path) -> None:
    first = kb.ingestor.ingest_paths([corpus])
    assert first.added and first.texts_embedded == first.chunks_written > 0
    count = kb.store.count()
    second = kb.ingestor.ingest_paths([corpus])
    assert second.texts_embedded == 0
    assert second.added == second.updated == [] and len(second.unchanged) == len(first.added)
    assert kb.store.count() == count


def test_a_changed_document_replaces_exactly_its_chunks(kb: KnowledgeServices,
                                                        corpus: Path) -> None:
    kb.ingestor.ingest_paths([corpus])
    before = kb.store.document_hashes()
    article = corpus / "en" / "cancel-subscription.md"
    article.write_text(article.read_text() + "\n## Refund of the last box\n\nA box already "
                       "shipped is never refunded after cancellation, sorry.\n")
    report = kb.ingestor.ingest_paths([corpus])
    assert report.updated == ["en/cancel-subscription"]
    assert report.added == [] and report.removed == []
    new_chunks = len(chunk_document(next(d for d in DocumentLoader().load_paths([corpus])
                                         if d.id == "en/cancel-subscription")))
    assert report.texts_embedded == new_chunks
    after = kb.store.document_hashes()
    assert after["en/cancel-subscription"] != before["en/cancel-subscription"]
    assert {k: v for k, v in after.items() if k != "en/cancel-subscription"} == {
        k: v for k, v in before.items() if k != "en/cancel-subscription"}
    hits = kb.retriever.search("is a box already shipped refunded after I cancel", 3)
    assert hits[0].doc_id == "en/cancel-subscription"
    assert "never refunded" in " ".join(h.text for h in hits if h.doc_id == hits[0].doc_id)


def test_sync_removes_the_chunks_of_a_deleted_document(kb: KnowledgeServices,
                                                       corpus: Path) -> None:
    kb.ingestor.ingest_paths([corpus])
    (corpus / "notes.txt").unlink()
    kept = kb.ingestor.ingest_paths([corpus])
    assert kept.removed == [] and "notes" in kb.store.document_hashes()
    synced = kb.ingestor.ingest_paths([corpus], delete_missing=True)
    assert synced.removed == ["notes"]
    assert "notes" not in kb.store.document_hashes()
    assert all(p.doc_id != "notes" for p in kb.retriever.search("notes", 10, mode="sparse"))


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("bad.jsonl", '{"question": "Q?", "answer": "A."}\n{"question": "Q2?"}\n',
         "bad.jsonl:2: field 'answer'"),
        ("bad2.jsonl", '{"question": "Q?", "answer": "A."}\nnot json\n', "bad2.jsonl:2:"),
        ("bad.csv", "question,reply\nQ?,A.\n", "bad.csv:1: field 'answer'"),
        ("bad.md", "---\ntitle: [unclosed\n---\n# T\n\nText here.\n", "bad.md:"),
        ("tags.md", "---\ntitle: T\ntags: 5\n---\nSome text.\n", "field 'tags'"),
    ],
)
def test_a_malformed_file_is_named_and_leaves_the_collection_intact(
        kb: KnowledgeServices, corpus: Path, name: str, content: str, expected: str) -> None:
    kb.ingestor.ingest_paths([corpus])
    hashes, count = kb.store.document_hashes(), kb.store.count()
    (corpus / "en" / "cancel-subscription.md").write_text("# Changed\n\nThis changed text.\n")
    (corpus / name).write_text(content)
    with pytest.raises(IngestError) as info:
        kb.ingestor.ingest_paths([corpus], delete_missing=True)
    assert expected in str(info.value)
    assert kb.store.document_hashes() == hashes
    assert kb.store.count() == count


def test_invalid_utf8_is_reported(kb: KnowledgeServices, corpus: Path) -> None:
    (corpus / "latin1.txt").write_bytes("Livraison \xe9t\xe9".encode("latin-1"))
    with pytest.raises(IngestError, match=r"latin1\.txt: not valid UTF-8"):
        kb.ingestor.ingest_paths([corpus])


def test_missing_path_and_unsupported_type_are_errors(tmp_path: Path,
                                                      kb: KnowledgeServices) -> None:
    with pytest.raises(IngestError, match="no such file"):
        kb.ingestor.ingest_paths([tmp_path / "nope"])
    (tmp_path / "x.docx").write_bytes(b"PK")
    with pytest.raises(IngestError, match="unsupported file type"):
        kb.ingestor.ingest_paths([tmp_path / "x.docx"])
