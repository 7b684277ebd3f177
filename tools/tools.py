"""The tools a chat model may call, as typed Python signatures.

These functions are *schemas*: their signatures and docstrings define what the model
sees (``chat_model.bind_tools(tool_schemas())``) and how `ActionService` validates the
arguments (``args_model(name)``). Calling one has no side effect: it only returns the
proposed call. Every execution goes through ``ActionService.preview`` /
``ActionService.execute`` (tools/service.py), which checks identity and policy.

The customer and the conversation are never tool arguments: they come from the
verified channel identity, so a model cannot act for someone else.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from decimal import Decimal
from functools import cache
from typing import Any, get_type_hints

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, ConfigDict, create_model


def _proposal(tool: str, **args: Any) -> dict[str, Any]:
    return {"tool": tool, "args": args, "status": "proposed",
            "note": "Not executed: actions run through ActionService after confirmation."}


def get_order_status(order_number: str) -> dict[str, Any]:
    """Look up the status, items, shipping and tracking of one of the customer's orders.

    Args:
        order_number: The order number, like CL-100123.
    """
    return _proposal("get_order_status", order_number=order_number)


def list_recent_orders(limit: int = 5) -> dict[str, Any]:
    """List the customer's most recent orders, newest first.

    Args:
        limit: How many orders to list (1 to 20).
    """
    return _proposal("list_recent_orders", limit=limit)


def refund_order(
    order_number: str,
    item_names: list[str] | None = None,
    amount: Decimal | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """Propose a refund: the whole order, some of its items, or a partial amount in EUR.

    The customer confirms a preview first; refunds above 500 EUR wait for a team member.

    Args:
        order_number: The order number, like CL-100123.
        item_names: Names of the items to refund; leave empty to refund every eligible item.
        amount: A partial amount in EUR (at most 2 decimals); leave empty for the full value.
        reason: Why the customer wants a refund, in a few words.
    """
    return _proposal("refund_order", order_number=order_number, item_names=item_names,
                     amount=amount, reason=reason)


def cancel_order(order_number: str, reason: str = "") -> dict[str, Any]:
    """Propose cancelling an order that has not shipped yet (pending or paid).

    Args:
        order_number: The order number, like CL-100123.
        reason: Why the customer wants to cancel, in a few words.
    """
    return _proposal("cancel_order", order_number=order_number, reason=reason)


def update_shipping_address(
    order_number: str,
    line1: str,
    postal_code: str,
    city: str,
    country: str,
    line2: str | None = None,
) -> dict[str, Any]:
    """Propose a new shipping address for an order that has not shipped, same country only.

    Args:
        order_number: The order number, like CL-100123.
        line1: Street and number.
        postal_code: Postal code.
        city: City.
        country: Two-letter country code (e.g. FR); must be the order's current country.
        line2: Apartment, building, floor (optional).
    """
    return _proposal("update_shipping_address", order_number=order_number, line1=line1,
                     postal_code=postal_code, city=city, country=country, line2=line2)


def create_ticket(subject: str, summary: str, order_number: str | None = None) -> dict[str, Any]:
    """Open a support ticket for the team to follow up by email.

    Args:
        subject: A short subject line.
        summary: What the customer needs and what was already tried.
        order_number: The order concerned, if any.
    """
    return _proposal("create_ticket", subject=subject, summary=summary,
                     order_number=order_number)


def handoff_to_human(reason: str) -> dict[str, Any]:
    """Hand the conversation over to a human agent.

    Args:
        reason: Why a human is needed, in one sentence.
    """
    return _proposal("handoff_to_human", reason=reason)


TOOL_FUNCTIONS: dict[str, Callable[..., dict[str, Any]]] = {
    f.__name__: f
    for f in (
        get_order_status,
        list_recent_orders,
        refund_order,
        cancel_order,
        update_shipping_address,
        create_ticket,
        handoff_to_human,
    )
}


@cache
def args_model(tool: str) -> type[BaseModel]:
    """A pydantic model of the tool's arguments, from its signature; extra keys are refused."""
    func = TOOL_FUNCTIONS[tool]
    hints = get_type_hints(func)
    fields: dict[str, Any] = {}
    for name, param in inspect.signature(func).parameters.items():
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[name] = (hints[name], default)
    model: type[BaseModel] = create_model(
        f"{''.join(p.title() for p in tool.split('_'))}Args",
        __config__=ConfigDict(extra="forbid", str_strip_whitespace=True),
        **fields,
    )
    return model


def tool_schemas(names: list[str] | None = None) -> list[BaseTool]:
    """LangChain tools for ``chat_model.bind_tools(...)`` (all tools, or only ``names``)."""
    selected = names if names is not None else list(TOOL_FUNCTIONS)
    return [
        StructuredTool.from_function(TOOL_FUNCTIONS[n], parse_docstring=True) for n in selected
    ]
