"""Reading evaluation datasets strictly: a bad line is reported by file, line and field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class DatasetError(ValueError):
    """A dataset line is malformed; the message names the file, line and field."""

    def __init__(self, path: Path | str, message: str, line: int | None = None,
                 field: str | None = None) -> None:
        self.path, self.line, self.field = str(path), line, field
        where = f"{path}:{line}" if line is not None else str(path)
        what = f" field '{field}':" if field else ""
        super().__init__(f"{where}:{what} {message}")


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every non-blank line."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError(path, "no such file") from None
    except UnicodeDecodeError as exc:
        raise DatasetError(path, f"not valid UTF-8 (byte {exc.start})") from exc
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(path, f"invalid JSON ({exc.msg})", lineno) from exc
        if not isinstance(obj, dict):
            raise DatasetError(path, "each line must be a JSON object", lineno)
        yield lineno, obj


def require_str(path: Path, lineno: int, obj: dict[str, Any], key: str,
                optional: bool = False) -> str | None:
    value = obj.get(key)
    if value is None and optional:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and key == "id":
        return str(value)
    if not isinstance(value, str) or not value.strip():
        raise DatasetError(path, "must be a non-empty string", lineno, key)
    return value


def require_str_list(path: Path, lineno: int, obj: dict[str, Any], key: str) -> list[str]:
    value = obj.get(key)
    if not isinstance(value, list) or not value:
        raise DatasetError(path, "must be a non-empty list", lineno, key)
    out = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool):
            item = str(item)
        if not isinstance(item, str) or not item:
            raise DatasetError(path, "must contain only strings", lineno, key)
        out.append(item)
    return out


def require_new_name(path: Path, lineno: int, obj: dict[str, Any], seen: set[str],
                     what: str) -> str:
    """The line's `name`, which no earlier line of the file may have used."""
    name = require_str(path, lineno, obj, "name")
    assert name is not None
    if name in seen:
        raise DatasetError(path, f"duplicate {what} name '{name}'", lineno, "name")
    seen.add(name)
    return name


def require_turns(path: Path, lineno: int, obj: dict[str, Any]) -> list[str]:
    """The line's `turns`: the customer's messages, a non-empty list of non-empty strings."""
    turns = obj.get("turns")
    if not isinstance(turns, list) or not turns or not all(
            isinstance(t, str) and t.strip() for t in turns):
        raise DatasetError(path, "must be a non-empty list of non-empty strings", lineno,
                           "turns")
    return turns
