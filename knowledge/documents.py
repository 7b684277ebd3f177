"""What the knowledge base holds: source documents and the chunks cut from them."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from typing import Any

CHUNKER_VERSION = "1"
_CHUNK_NAMESPACE = uuid.UUID("6f1c1e52-6c1a-4a63-9d55-4b7b8f0e2a11")


class IngestError(ValueError):
    """A source file cannot be ingested; the message names the file, line and field."""

    def __init__(self, path: str, message: str, line: int | None = None, field: str | None = None):
        self.path = path
        self.line = line
        self.field = field
        where = f"{path}:{line}" if line is not None else path
        what = f" field '{field}':" if field else ""
        super().__init__(f"{where}:{what} {message}")


@dataclass(frozen=True)
class Document:
    """A source document: an article, a page, a PDF, or one FAQ entry.

    `content_hash` is a hash of the source content as read (file bytes or FAQ row),
    so touching a file without changing it does not re-embed it.
    """

    id: str
    title: str
    text: str
    source: str
    language: str
    tags: tuple[str, ...] = ()
    updated_at: str | None = None
    tenant: str = "default"
    format: str = "markdown"
    metadata: dict[str, Any] = field(default_factory=dict)
    content_hash: str = ""


@dataclass(frozen=True)
class Chunk:
    """A piece of a document small enough to embed, with the heading path it sits under."""

    doc_id: str
    index: int
    text: str
    heading_path: tuple[str, ...] = ()

    def point_id(self, doc_hash: str) -> str:
        """Deterministic id: the same content always maps to the same point."""
        return str(uuid.uuid5(_CHUNK_NAMESPACE, f"{self.doc_id}\x00{doc_hash}\x00{self.index}"))

    def embedding_text(self, title: str) -> str:
        """What gets embedded: the title and heading path give a chunk its context."""
        path = " > ".join(p for p in (title, *self.heading_path) if p)
        return f"{path}\n{self.text}" if path else self.text


def content_hash(raw: bytes | str, *parts: str) -> str:
    """Hash of a document's source content plus anything else that shapes its index."""
    h = hashlib.sha256(raw.encode("utf-8") if isinstance(raw, str) else raw)
    for part in (CHUNKER_VERSION, *parts):
        h.update(b"\x00" + part.encode("utf-8"))
    return h.hexdigest()[:32]
