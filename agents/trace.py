"""Turn traces: one structured record per turn, for the people who run the bot.

Every turn (`SupportAgent.ask`, a confirmation, a notification) is logged on the
``supportgraph.trace`` logger as one JSON object: what the guards decided, the intent with
its confidence, top-3 alternatives and slots, the passages retrieved (ids and scores, not
their text), which responder answered, the action and its outcome, and the latency. The
customer's words are not in it, and what it holds of them (slot values, the guard's
reason) has emails, phone numbers, card numbers, IBANs and addresses masked before the
record is written, whatever handler receives it.

`supportgraph serve` writes them to a file with the setting ``SUPPORTGRAPH_TRACE_LOG``
(`TraceFile`); any other handler on the logger (a log shipper, OpenTelemetry's logging
bridge) gets the same records.
"""

from __future__ import annotations

import json
import logging
from logging.handlers import RotatingFileHandler
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.pii import mask_pii

if TYPE_CHECKING:
    from agents.support_agent import TurnResult

TRACE_LOGGER = "supportgraph.trace"
trace_log = logging.getLogger(TRACE_LOGGER)

_PASSAGES_TRACED = 5


def _round(value: Any, digits: int = 4) -> Any:
    return round(value, digits) if isinstance(value, float) else value


def turn_trace(result: TurnResult, channel: str | None = None) -> dict[str, Any]:
    """The trace of one turn as a JSON-ready dict (stable keys; PII masked)."""
    intent = result.intent or {}
    action = result.action or {}
    record: dict[str, Any] = {
        "event": "turn",
        "conversation_id": result.conversation_id,
        "channel": channel,
        "language": result.language,
        "latency_ms": round(result.latency_ms, 1),
        "guard": {k: _round(v) for k, v in result.guard.items()},
        "intent": {
            "label": intent.get("label"),
            "route": intent.get("route"),
            "confidence": _round(intent.get("confidence")),
            "source": intent.get("source"),
            "alternatives": [{"label": a.get("label"), "confidence": _round(a.get("confidence"))}
                             for a in intent.get("alternatives") or []][:3],
            "slots": intent.get("slots") or {},
            "missing_slots": intent.get("missing_slots") or [],
        },
        "passages": [{"doc_id": p.get("doc_id"), "chunk_id": p.get("chunk_id"),
                      "score": _round(p.get("score")), "similarity": _round(p.get("similarity"))}
                     for p in result.passages[:_PASSAGES_TRACED]],
        "citations": [c["doc_id"] for c in result.citations],
        "responder": result.responder,
        "answered": result.answered,
        "handoff_offered": result.handoff_offered,
        "output_guard": result.output_guard,
        "action": {"tool": action.get("tool"), "status": action.get("status"),
                   "code": action.get("code")} if action else None,
        "awaiting_confirmation": result.awaiting_confirmation,
    }
    # What can hold the customer's words is masked; ids, labels and numbers are left as
    # they are (a phone-number pattern would eat the digits of an id).
    for part, key in ((record["intent"], "slots"), (record, "guard"), (record, "output_guard")):
        part[key] = _masked(part[key])
    return record


def _masked(value: Any) -> Any:
    """`value` with PII masked in every string it holds, at any depth."""
    if isinstance(value, str):
        return mask_pii(value).text
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


def log_turn(result: TurnResult, channel: str | None = None) -> None:
    """Log the turn's trace on `supportgraph.trace` at INFO (nothing is built when no
    handler would take it)."""
    if trace_log.isEnabledFor(logging.INFO):
        trace_log.info(json.dumps(turn_trace(result, channel), ensure_ascii=False, default=str))


class TraceFile:
    """Writes the traces of this process to `path` as JSON lines, rotated at `max_bytes`
    (`backups` old files kept). `close()` detaches it."""

    def __init__(self, path: Path, max_bytes: int = 20_000_000, backups: int = 5) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handler = RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups,
                                           encoding="utf-8")
        self.handler.setFormatter(logging.Formatter("%(message)s"))
        self.handler.setLevel(logging.INFO)
        trace_log.addHandler(self.handler)
        self._level = trace_log.level
        if trace_log.getEffectiveLevel() > logging.INFO:
            trace_log.setLevel(logging.INFO)

    def close(self) -> None:
        trace_log.removeHandler(self.handler)
        self.handler.close()
        if not any(isinstance(h, RotatingFileHandler) for h in trace_log.handlers):
            trace_log.setLevel(self._level)
