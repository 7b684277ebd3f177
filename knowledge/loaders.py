"""Read source files into Documents: Markdown, HTML, text, PDF and FAQ (JSONL/CSV).

Everything is parsed before anything is written, so a malformed file stops an
ingestion with an `IngestError` naming the file, line and field and leaves the
knowledge base as it was.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from knowledge.documents import Document, IngestError, content_hash
from knowledge.language import detect_language

MARKDOWN_EXT = {".md", ".markdown"}
HTML_EXT = {".html", ".htm"}
TEXT_EXT = {".txt"}
PDF_EXT = {".pdf"}
FAQ_EXT = {".jsonl", ".csv"}
SUPPORTED_EXT = MARKDOWN_EXT | HTML_EXT | TEXT_EXT | PDF_EXT | FAQ_EXT

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*(?:\n|\Z)", re.DOTALL)
_SLUG = re.compile(r"[^a-z0-9]+")


def slugify(text: str, max_len: int = 60) -> str:
    return _SLUG.sub("-", text.lower()).strip("-")[:max_len] or "entry"


def discover(paths: Sequence[Path]) -> list[tuple[Path, Path]]:
    """Every supported file under `paths`, as (file, root it is named relative to)."""
    found: list[tuple[Path, Path]] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise IngestError(str(path), "no such file or directory")
        if path.is_dir():
            for file in sorted(path.rglob("*")):
                hidden = any(part.startswith(".") for part in file.relative_to(path).parts)
                if file.is_file() and not hidden and file.suffix.lower() in SUPPORTED_EXT:
                    found.append((file, path))
        elif path.suffix.lower() in SUPPORTED_EXT:
            found.append((path, path.parent))
        else:
            raise IngestError(
                str(path), f"unsupported file type '{path.suffix}' (use one of "
                f"{', '.join(sorted(SUPPORTED_EXT))})"
            )
    return found


class DocumentLoader:
    """Turns files into Documents, with defaults for fields a file does not set."""

    def __init__(
        self,
        languages: Sequence[str] = ("en", "fr"),
        default_language: str = "en",
        tenant: str = "default",
        base_url: str | None = None,
    ) -> None:
        self.languages = tuple(languages)
        self.default_language = default_language
        self.tenant = tenant
        self.base_url = base_url

    def load_paths(self, paths: Sequence[Path]) -> list[Document]:
        """Load every supported file under `paths`; document ids must be unique."""
        docs: list[Document] = []
        seen: dict[str, str] = {}
        for file, root in discover(paths):
            for doc in self.load_file(file, root):
                if doc.id in seen:
                    raise IngestError(
                        str(file), f"duplicate document id '{doc.id}' (also in {seen[doc.id]})",
                        field="id",
                    )
                seen[doc.id] = str(file)
                docs.append(doc)
        return docs

    def load_file(self, file: Path, root: Path) -> Iterator[Document]:
        """Documents of one file; `root` names it (id = path relative to root, no suffix)."""
        suffix = file.suffix.lower()
        rel = file.relative_to(root).with_suffix("").as_posix()
        base_id = f"{self.tenant}:{rel}" if self.tenant != "default" else rel
        source = f"{self.base_url.rstrip('/')}/{rel}" if self.base_url else file.as_posix()
        if suffix in FAQ_EXT:
            yield from self._load_faq(file, base_id, source)
            return
        if suffix in PDF_EXT:
            yield self._load_pdf(file, base_id, source)
            return
        text = _read_text(file)
        if suffix in MARKDOWN_EXT:
            yield self._load_markdown(file, base_id, text, source)
        elif suffix in HTML_EXT:
            yield self._load_html(file, base_id, text, source)
        else:
            yield self._load_text(file, base_id, text, source)

    def _make(self, file: Path, doc_id: str, meta: dict[str, Any], title: str, text: str,
              fmt: str, raw: bytes | str, source: str, line: int | None = None) -> Document:
        if not text.strip():
            raise IngestError(str(file), "document has no text", line=line, field="text")
        tags = meta.get("tags", ())
        if isinstance(tags, str):
            tags = [t.strip() for t in tags.split(",") if t.strip()]
        if not isinstance(tags, list | tuple) or not all(isinstance(t, str) for t in tags):
            raise IngestError(str(file), "must be a list of strings", line=line, field="tags")
        language = meta.get("language") or detect_language(
            f"{title}\n{text[:2000]}", self.languages, self.default_language
        )
        if not isinstance(language, str):
            raise IngestError(str(file), "must be a language code", line=line, field="language")
        updated = meta.get("updated_at")
        if updated is None:
            updated = datetime.fromtimestamp(file.stat().st_mtime, UTC).date().isoformat()
        extra = {k: v for k, v in meta.items()
                 if k not in {"id", "title", "language", "tags", "updated_at", "url", "tenant"}}
        return Document(
            id=str(meta.get("id") or doc_id),
            title=title.strip() or file.stem,
            text=text.strip(),
            source=str(meta.get("url") or source),
            language=language.lower(),
            tags=tuple(tags),
            updated_at=str(updated),
            tenant=str(meta.get("tenant") or self.tenant),
            format=fmt,
            metadata=_jsonable(extra),
            content_hash=content_hash(raw, self.tenant, self.default_language,
                                      self.base_url or ""),
        )

    def _load_markdown(self, file: Path, doc_id: str, text: str, source: str) -> Document:
        raw = text
        meta: dict[str, Any] = {}
        match = _FRONT_MATTER.match(text)
        if match:
            try:
                loaded = yaml.safe_load(match.group(1)) or {}
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                line = mark.line + 2 if mark is not None else 1
                raise IngestError(str(file), "invalid YAML front matter", line=line) from exc
            if not isinstance(loaded, dict):
                raise IngestError(str(file), "front matter must be a mapping", line=1)
            meta = loaded
            text = text[match.end():]
        title = meta.get("title")
        if title is not None and not isinstance(title, str):
            raise IngestError(str(file), "must be a string", line=1, field="title")
        if not title:
            h1 = re.search(r"^#\s+(.+)$", text, re.MULTILINE)
            title = h1.group(1).strip() if h1 else file.stem.replace("-", " ").capitalize()
        return self._make(file, doc_id, meta, title, text, "markdown", raw, source)

    def _load_html(self, file: Path, doc_id: str, html: str, source: str) -> Document:
        from bs4 import BeautifulSoup

        soup = BeautifulSoup(html, "html.parser")
        for tag in soup(["script", "style", "nav", "footer", "noscript", "template"]):
            tag.decompose()
        meta: dict[str, Any] = {}
        html_tag = soup.find("html")
        lang = html_tag.get("lang") if html_tag is not None else None
        if isinstance(lang, str) and lang:
            meta["language"] = lang.split("-")[0].lower()
        for m in soup.find_all("meta"):
            name, content = m.get("name"), m.get("content")
            if name in {"tags", "keywords"} and isinstance(content, str):
                meta["tags"] = content
            elif name == "updated_at" and isinstance(content, str):
                meta["updated_at"] = content
        h1 = soup.find("h1")
        title_tag = soup.find("title")
        title = (h1.get_text(" ", strip=True) if h1 else "") or (
            title_tag.get_text(" ", strip=True) if title_tag else file.stem
        )
        body = soup.body or soup
        lines: list[str] = []
        for el in body.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "td"]):
            if el.find_parent(["li", "td"]) is not None and el.name in {"p", "li"}:
                continue
            content = el.get_text(" ", strip=True)
            if not content:
                continue
            if el.name and el.name[0] == "h" and el.name[1:].isdigit():
                lines.append(f"{'#' * int(el.name[1:])} {content}")
            elif el.name == "li":
                lines.append(f"- {content}")
            else:
                lines.append(content)
        return self._make(file, doc_id, meta, title, "\n\n".join(lines), "html", html,
                          source)

    def _load_text(self, file: Path, doc_id: str, text: str, source: str) -> Document:
        first = text.strip().splitlines()[0].strip() if text.strip() else ""
        title = first if 0 < len(first) <= 80 else file.stem.replace("-", " ").capitalize()
        return self._make(file, doc_id, {}, title, text, "text", text, source)

    def _load_pdf(self, file: Path, doc_id: str, source: str) -> Document:
        from pypdf import PdfReader
        from pypdf.errors import PdfReadError

        try:
            reader = PdfReader(str(file))
            pages = [page.extract_text() or "" for page in reader.pages]
            info = reader.metadata
        except (PdfReadError, ValueError, OSError) as exc:
            raise IngestError(str(file), f"not a readable PDF ({exc})") from exc
        title = (info.title if info is not None and info.title else "") or (
            file.stem.replace("-", " ").capitalize()
        )
        text = "\n\n".join(f"## Page {i}\n\n{p.strip()}" for i, p in enumerate(pages, 1)
                           if p.strip())
        meta = {"page_count": len(pages)}
        return self._make(file, doc_id, meta, title, text, "pdf", file.read_bytes(), source)

    def _load_faq(self, file: Path, base_id: str, source: str) -> Iterator[Document]:
        rows: list[tuple[int, dict[str, Any]]] = []
        if file.suffix.lower() == ".jsonl":
            for lineno, line in enumerate(_read_text(file).splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise IngestError(str(file), f"invalid JSON ({exc.msg})", line=lineno) from exc
                if not isinstance(row, dict):
                    raise IngestError(str(file), "each line must be a JSON object", line=lineno)
                rows.append((lineno, row))
        else:
            reader = csv.DictReader(_read_text(file).splitlines())
            header = reader.fieldnames or []
            for needed in ("question", "answer"):
                if needed not in header:
                    raise IngestError(str(file), "missing column in the header", line=1,
                                      field=needed)
            rows.extend((i, dict(r)) for i, r in enumerate(reader, 2))
        for lineno, row in rows:
            for needed in ("question", "answer"):
                value = row.get(needed)
                if not isinstance(value, str) or not value.strip():
                    raise IngestError(str(file), "must be a non-empty string", line=lineno,
                                      field=needed)
            question, answer = row["question"].strip(), row["answer"].strip()
            entry_id = str(row.get("id") or slugify(question))
            meta = {k: v for k, v in row.items() if k not in {"question", "answer"} and v}
            meta["id"] = f"{base_id}#{entry_id}"
            yield self._make(file, base_id, meta, question, answer, "faq",
                             json.dumps(row, sort_keys=True, default=str),
                             f"{source}#{entry_id}", line=lineno)


def _read_text(file: Path) -> str:
    try:
        return file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(str(file), f"not valid UTF-8 (byte {exc.start})") from exc
    except OSError as exc:
        raise IngestError(str(file), f"cannot read file: {exc.strerror}") from exc


def _jsonable(meta: dict[str, Any]) -> dict[str, Any]:
    return {k: v if isinstance(v, str | int | float | bool | list) else str(v)
            for k, v in meta.items()}
