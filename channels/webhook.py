"""A generic channel for any system that can POST JSON: signed messages in, signed
replies POSTed to a configured URL.

Inbound: `{"conversation_id", "text", "customer_id"?, "message_id"?}` with
`X-Supportgraph-Signature: sha256=<hex HMAC-SHA256 of the raw body>`. The caller's
conversation id maps to a supportgraph conversation; a repeated `message_id` (or
`X-Supportgraph-Delivery` header) is answered once. Outbound: the reply as JSON to
`webhook_url`, signed the same way, with `X-Supportgraph-Delivery` constant across retries.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
from pydantic import BaseModel, Field, ValidationError

from channels.base import (
    Channel,
    ChannelPayloadError,
    InboundMessage,
    OutboundMessage,
    hmac_sha256,
    signature_ok,
)

SIGNATURE_HEADER = "X-Supportgraph-Signature"


class WebhookIn(BaseModel):
    conversation_id: str = Field(min_length=1, max_length=256)
    text: str = Field(min_length=1)
    customer_id: str | None = Field(default=None, max_length=128)
    message_id: str | None = Field(default=None, min_length=1, max_length=256)


class WebhookChannel(Channel):
    name = "webhook"
    route = "inbound"
    appends_sources = False  # citations travel as structured JSON
    accepted_status = 202

    def __init__(self, url: str, secret: str, timeout_s: float = 10.0,
                 max_attempts: int = 3) -> None:
        self.url, self.secret = url, secret
        self.timeout_s, self.max_attempts = timeout_s, max_attempts

    @classmethod
    def from_settings(cls, settings: Any) -> WebhookChannel | None:
        url = getattr(settings, "webhook_url", None)
        secret = getattr(settings, "webhook_secret", None)
        if not (url and secret):
            return None
        return cls(url, secret, float(getattr(settings, "channels_timeout_s", None) or 10.0))

    def verify(self, headers: Mapping[str, str], raw_body: bytes) -> bool:
        return signature_ok(self.secret, raw_body, headers.get(SIGNATURE_HEADER.lower()))

    def parse_inbound(self, raw_body: bytes, headers: Mapping[str, str]
                      ) -> InboundMessage | None:
        try:
            data = WebhookIn.model_validate_json(raw_body)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise ChannelPayloadError(f"{where}: {err['msg']}" if where else err["msg"]
                                      ) from exc
        if not data.text.strip():
            return None
        message_id = data.message_id or headers.get("x-supportgraph-delivery")
        return InboundMessage(
            text=data.text, sender_id=data.customer_id or data.conversation_id,
            thread_key=data.conversation_id,
            reply_target={"conversation_id": data.conversation_id, "message_id": message_id},
            event_id=message_id, customer_id=data.customer_id)

    def payload(self, outbound: OutboundMessage) -> dict[str, Any]:
        return {"event": "reply",
                "conversation_id": outbound.target["conversation_id"],
                "in_reply_to": outbound.target.get("message_id"),
                "supportgraph_conversation_id": outbound.conversation_id,
                "text": outbound.text, "citations": outbound.citations,
                "language": outbound.language,
                "awaiting_confirmation": outbound.awaiting_confirmation}

    def send(self, outbound: OutboundMessage) -> str | None:
        body = json.dumps(self.payload(outbound), ensure_ascii=False).encode()
        delivery = uuid.uuid4().hex
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: hmac_sha256(
            self.secret, body), "X-Supportgraph-Delivery": delivery,
            "X-Supportgraph-Event": "reply"}
        with httpx.Client(timeout=self.timeout_s) as client:
            for attempt in range(1, self.max_attempts + 1):
                try:
                    response = client.post(self.url, content=body, headers=headers)
                except httpx.TransportError:
                    if attempt == self.max_attempts:
                        raise
                else:
                    if response.status_code < 500 and response.status_code != 429:
                        response.raise_for_status()
                        return None
                    if attempt == self.max_attempts:
                        response.raise_for_status()
                time.sleep(0.5 * 2 ** (attempt - 1))
        return None
