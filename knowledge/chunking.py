"""Structure-aware chunking: split by headings first, then by paragraphs and sentences.

A chunk never straddles two sections, carries the heading path it sits under,
and is at most `max_chars` long (a single longer sentence is hard-split).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from knowledge.documents import Chunk, Document

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[\"'«(\[A-ZÀ-ÖØ-Þ0-9])")


@dataclass(frozen=True)
class ChunkingConfig:
    max_chars: int = 900
    overlap_chars: int = 120
    min_chars: int = 40


@dataclass(frozen=True)
class Section:
    heading_path: tuple[str, ...]
    text: str


def split_sections(markdown: str, title: str = "") -> list[Section]:
    """Sections of a Markdown text, each with its heading path (H1 equal to title dropped)."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []
    in_fence = False

    def close() -> None:
        text = "\n".join(body).strip()
        if text:
            path = tuple(h for _, h in stack)
            if path and path[0].strip().lower() == title.strip().lower():
                path = path[1:]
            sections.append(Section(path, text))
        body.clear()

    for line in markdown.splitlines():
        if _FENCE.match(line):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            close()
            level = len(match.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, match.group(2).strip()))
        else:
            body.append(line)
    close()
    return sections


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _pieces(text: str, max_chars: int) -> list[str]:
    """Paragraphs, split further into sentences (and hard-split) when too long."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        para = para.strip()
        if not para:
            continue
        if len(para) <= max_chars:
            out.append(para)
            continue
        for sentence in split_sentences(para):
            while len(sentence) > max_chars:
                cut = sentence.rfind(" ", 0, max_chars)
                cut = cut if cut > max_chars // 2 else max_chars
                out.append(sentence[:cut].strip())
                sentence = sentence[cut:].strip()
            if sentence:
                out.append(sentence)
    return out


def _overlap_tail(text: str, overlap: int) -> str:
    if overlap <= 0:
        return ""
    sentences = split_sentences(text)
    tail: list[str] = []
    size = 0
    for sentence in reversed(sentences[1:]):
        if size + len(sentence) > overlap:
            break
        tail.insert(0, sentence)
        size += len(sentence) + 1
    return " ".join(tail)


def chunk_text(text: str, config: ChunkingConfig) -> list[str]:
    """Pack paragraphs greedily into chunks of at most `max_chars`, with sentence overlap."""
    chunks: list[str] = []
    current = ""
    for piece in _pieces(text, config.max_chars):
        candidate = f"{current}\n\n{piece}" if current else piece
        if len(candidate) <= config.max_chars:
            current = candidate
            continue
        chunks.append(current)
        tail = _overlap_tail(current, config.overlap_chars)
        current = f"{tail}\n\n{piece}" if tail and len(tail) + len(piece) + 2 <= config.max_chars \
            else piece
    if current:
        chunks.append(current)
    return chunks


def chunk_document(doc: Document, config: ChunkingConfig | None = None) -> list[Chunk]:
    """Chunks of a document in reading order; tiny sections merge into the next one."""
    config = config or ChunkingConfig()
    sections = split_sections(doc.text, doc.title) if doc.format != "faq" else [
        Section((), doc.text)
    ]
    merged: list[Section] = []
    carry = ""
    for section in sections:
        text = f"{carry}\n\n{section.text}" if carry else section.text
        if len(text) < config.min_chars:
            carry = text
            continue
        merged.append(Section(section.heading_path, text))
        carry = ""
    if carry:
        if merged:
            last = merged.pop()
            merged.append(Section(last.heading_path, f"{last.text}\n\n{carry}"))
        else:
            merged.append(Section((), carry))
    chunks: list[Chunk] = []
    for section in merged:
        for text in chunk_text(section.text, config):
            chunks.append(Chunk(doc.id, len(chunks), text, section.heading_path))
    return chunks
