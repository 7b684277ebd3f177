"""Channel discovery and mounting.

Channels are the built-ins (Slack, email, webhook) plus any class registered under the
`supportgraph.channels` entry point group; an entry point with a built-in's name
replaces it. A channel is enabled when `from_settings` returns an instance (its
settings are present); each enabled channel gets POST /channels/{name}/{route}.
"""

from __future__ import annotations

import logging
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from fastapi import BackgroundTasks, FastAPI, Request
from fastapi.responses import JSONResponse

from channels.base import Channel, ChannelStore, RuntimeLike, handle

log = logging.getLogger("supportgraph.channels")

ENTRY_POINT_GROUP = "supportgraph.channels"
BUILTIN: dict[str, str] = {
    "slack": "channels.slack:SlackChannel",
    "email": "channels.email:EmailChannel",
    "webhook": "channels.webhook:WebhookChannel",
}


def _load(target: str) -> type[Channel]:
    module, _, attr = target.partition(":")
    cls: type[Channel] = getattr(import_module(module), attr)
    return cls


def available_channels() -> dict[str, type[Channel]]:
    """Every channel class by name: the built-ins, then the entry points."""
    found = {name: _load(target) for name, target in BUILTIN.items()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            cls = ep.load()
        except Exception:
            log.exception("channel entry point %r (%s) failed to load", ep.name, ep.value)
            continue
        if not (isinstance(cls, type) and issubclass(cls, Channel)):
            log.error("channel entry point %r is not a Channel subclass", ep.name)
            continue
        found[getattr(cls, "name", None) or ep.name] = cls
    return found


def enabled_channels(settings: Any) -> list[Channel]:
    channels = []
    for name, cls in available_channels().items():
        channel = cls.from_settings(settings)
        if channel is None:
            continue
        if not getattr(channel, "name", None):
            channel.name = name  # type: ignore[misc]
        if channel.public_url is None:
            channel.public_url = getattr(settings, "public_url", None)
        channels.append(channel)
    return channels


def _problem(status: int, code: str, title: str, detail: str = "") -> JSONResponse:
    from channels.app import problem  # imported late: channels.app may import this module

    return problem(status, code, title, detail)


def mount_channels(app: FastAPI, runtime: RuntimeLike, settings: Any = None, *,
                   store: ChannelStore | None = None,
                   channels: list[Channel] | None = None) -> list[Channel]:
    """Add POST /channels/{name}/{route} for each enabled channel; returns them."""
    settings = settings if settings is not None else getattr(runtime, "settings", None)
    mounted = channels if channels is not None else enabled_channels(settings)
    if not mounted:
        return []
    db = store if store is not None else ChannelStore(getattr(runtime, "engine", None))
    for channel in mounted:
        _mount(app, runtime, channel, db)
        log.info("channel %s mounted at /channels/%s/%s", channel.name, channel.name,
                 channel.route)
    return mounted


def _mount(app: FastAPI, runtime: RuntimeLike, channel: Channel, db: ChannelStore) -> None:
    async def endpoint(request: Request, background: BackgroundTasks) -> JSONResponse:
        raw = await request.body()
        if len(raw) > channel.max_body_bytes:
            return _problem(413, "payload_too_large", "Payload too large",
                            f"{len(raw)} bytes; the limit is {channel.max_body_bytes}")
        result = await handle(channel, runtime, raw, request.headers, store=db,
                              background=background)
        if result.status == "rejected":
            return _problem(401, "invalid_signature", "Request signature invalid",
                            result.detail)
        if result.status == "invalid":
            return _problem(400, "invalid_payload", "Payload not understood", result.detail)
        if result.status == "handshake":
            return JSONResponse(result.body)
        return JSONResponse({"ok": True, "status": result.status},
                            status_code=channel.accepted_status)

    app.add_api_route(f"/channels/{channel.name}/{channel.route}", endpoint,
                      methods=["POST"], tags=["channels"], name=f"channel_{channel.name}",
                      summary=f"Inbound events of the {channel.name} channel")
