"""`ActionService`: the only way an action reaches the shop.

Flow: ``preview(request)`` validates the arguments against the tool's typed signature
(tools/tools.py), checks that the identity may act on the order (else ``not_found``,
revealing nothing), applies the policy (tools/policy.py) and returns a summary the
customer confirms plus the idempotency key. ``execute(preview)`` does it all again at
execution time and then:

1. *claims* the idempotency key by inserting an ``ActionExecution`` row (UNIQUE key,
   status ``in_progress``) before anything else happens. A concurrent or replayed
   duplicate fails that insert, waits for the first attempt to finish and returns the
   stored first outcome with ``replayed=True``; the backend is never called twice;
2. re-checks identity and policy with the claim in place (amounts held by other
   in-flight actions count against the order's refundable amount and the customer's
   daily limit, so two different concurrent refunds cannot both pass);
3. above the approval threshold, records a ``PendingApproval`` and stops
   (``pending_approval``); ``decide_approval`` later executes it exactly once;
4. calls the backend with the key. ``BackendUnavailable`` -> status ``failed``, code
   ``backend_unavailable``, a follow-up ticket for a human; the claim is marked failed
   (never "executed"), and a later retry re-uses the same key, so the shop dedupes.

A process killed between 1 and 4 leaves its claim ``in_progress``;
``reconcile_interrupted`` (run when the runtime starts) settles such claims from what the
shop says happened.

Every preview, refusal, approval request, decision, execution, replay, lookup and
verification writes an ``AuditRecord``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from tools import policy as pol
from tools.actions import (
    ALL_TOOLS,
    SIDE_EFFECT_TOOLS,
    TICKET_TOOLS,
    ActionOutcome,
    ActionPreview,
    ActionRequest,
    Identity,
    PolicyDecision,
)
from tools.backend import (
    BackendError,
    BackendRejected,
    BackendUnavailable,
    CommerceBackend,
    ExecutionLookup,
    OrderView,
)
from tools.policy import PolicyConfig, money
from tools.records import ActionExecution, AuditRecord, ExecutionStatus, PendingApproval, Ticket
from tools.shop.models import utcnow
from tools.tools import args_model

log = logging.getLogger(__name__)

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
BACKEND_UNAVAILABLE = "backend_unavailable"
ORDER_TOOLS = frozenset(
    {"get_order_status", "refund_order", "cancel_order", "update_shipping_address"}
)
_ES = ExecutionStatus

BACKEND_DOWN_MESSAGE = (
    "I couldn't reach the order system just now, so nothing was changed. I've opened a "
    "ticket and a team member will follow up."
)
INTERRUPTED = "interrupted"
INTERRUPTED_MESSAGE = (
    "This request was interrupted before its result was recorded. I've opened a ticket and "
    "a team member will check it; asking again is safe, nothing is done twice."
)
MIN_INTERRUPTED_AFTER_S = 60.0
RECONCILER = "system:reconciler"
RECONCILING = "reconciling"
"""The code of an in_progress claim a reconciler has taken over and is settling."""


def canonical_json(value: Any) -> str:
    """Deterministic JSON (sorted keys, no spaces; Decimals and dates as strings)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str,
                      ensure_ascii=False)


def idempotency_key(conversation_id: str, tool: str, args: dict[str, Any]) -> str:
    """sha256 of conversation id + tool + canonical JSON of the normalised arguments."""
    raw = "\x1f".join((conversation_id, tool, canonical_json(args)))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def actor_of(identity: Identity) -> str:
    if identity.verified and identity.customer_id:
        return f"customer:{identity.customer_id}"
    if identity.verified_orders:
        return "guest:" + ",".join(sorted(identity.verified_orders))
    return "anonymous"


def _mask_email(email: str) -> str:
    local, _, domain = email.strip().partition("@")
    return (local[:1] + "***@" + domain) if domain else "***"


def _json(value: Any, limit: int = 20_000) -> str:
    text = canonical_json(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _pinned_amount(summary: dict[str, Any]) -> Decimal | None:
    """The refund amount a preview showed (what the customer confirmed)."""
    if summary.get("action") != "refund_order" or summary.get("amount") is None:
        return None
    try:
        return Decimal(str(summary["amount"]))
    except InvalidOperation:
        return None


class _InvalidArgs(Exception):
    pass


@dataclass
class _Evaluation:
    """One pass of validation + identity + policy over a request."""

    args: dict[str, Any]
    key: str
    decision: PolicyDecision
    summary: dict[str, Any]
    order: OrderView | None = None
    owner: str | None = None
    amount: Decimal | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class ActionService:
    """Validate, authorise, apply policy, execute exactly once, audit.

    ``backend``: a `CommerceBackend`; ``policy``: a `PolicyConfig` (None = defaults);
    ``engine``: the database holding tools.records' tables; ``clock``: returns the
    current aware UTC datetime (fixed in tests).
    """

    def __init__(
        self,
        backend: CommerceBackend,
        policy: PolicyConfig | None,
        engine: Engine,
        clock: Callable[[], datetime] = utcnow,
        *,
        poll_interval_s: float = 0.02,
    ) -> None:
        self.backend = backend
        self.policy = policy or PolicyConfig()
        self.engine = engine
        self.clock = clock
        self.poll_interval_s = poll_interval_s

    # ====================================================================================
    # preview
    # ====================================================================================

    def preview(self, request: ActionRequest) -> ActionPreview:
        """What would happen, for the customer to confirm. No side effect except an audit row."""
        ev = self._evaluate(request)
        self._audit(
            request=request, event="previewed", args=ev.args, code=ev.decision.code,
            reason=ev.decision.reason, result={"allowed": ev.decision.allowed,
                                               "needs_approval": ev.decision.needs_approval},
            order_number=ev.args.get("order_number"), key=ev.key,
        )
        return ActionPreview(request=request, args=ev.args, summary=ev.summary,
                             decision=ev.decision, idempotency_key=ev.key)

    def _normalise(self, tool: str, raw: dict[str, Any]) -> dict[str, Any]:
        if tool not in ALL_TOOLS:
            raise _InvalidArgs(f"Unknown tool {tool!r}.")
        if not isinstance(raw, dict):
            raise _InvalidArgs("Arguments must be an object.")
        try:
            model = args_model(tool).model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()[:5]
            )
            raise _InvalidArgs(f"Invalid arguments: {problems}.") from None
        args = model.model_dump()
        if "order_number" in args and args["order_number"] is not None:
            number = str(args["order_number"]).strip().upper()
            if not self.policy.valid_order_number(number):
                raise _InvalidArgs("Order numbers look like CL-100123.")
            args["order_number"] = number
        if tool == "refund_order":
            names = [" ".join(str(n).split()) for n in (args.get("item_names") or [])]
            unique = {n.casefold(): n for n in names if n}
            if len(unique) > 20:
                raise _InvalidArgs("Too many items.")
            args["item_names"] = sorted(unique) or None  # casefolded: a canonical key
            amount = args.get("amount")
            if amount is not None:
                try:
                    amount = Decimal(str(amount))
                    if not amount.is_finite() or amount != amount.quantize(CENT):
                        raise _InvalidArgs("Amounts have at most 2 decimals.")
                except InvalidOperation:
                    raise _InvalidArgs("The amount is not a number.") from None
                if amount <= 0 or amount >= Decimal("100000000"):
                    raise _InvalidArgs("The refund amount must be positive.")
                args["amount"] = amount.quantize(CENT)
            args["reason"] = str(args.get("reason") or "")[:500]
        elif tool == "cancel_order":
            args["reason"] = str(args.get("reason") or "")[:500]
        elif tool == "update_shipping_address":
            limits = {"line1": 200, "postal_code": 16, "city": 100}
            for name, limit in limits.items():
                value = " ".join(str(args.get(name) or "").split())
                if not value or len(value) > limit:
                    raise _InvalidArgs(f"The {name.replace('_', ' ')} is missing or too long.")
                args[name] = value
            country = str(args.get("country") or "").strip().upper()
            if len(country) != 2 or not country.isalpha() or not country.isascii():
                raise _InvalidArgs("The country must be a two-letter code such as FR.")
            args["country"] = country
            line2 = " ".join(str(args.get("line2") or "").split())
            if len(line2) > 200:
                raise _InvalidArgs("The second address line is too long.")
            args["line2"] = line2 or None
        elif tool == "list_recent_orders":
            args["limit"] = max(1, min(int(args.get("limit") or 5), 20))
        elif tool == "create_ticket":
            subject = " ".join(str(args.get("subject") or "").split())
            summary = str(args.get("summary") or "").strip()
            if not subject or not summary:
                raise _InvalidArgs("A ticket needs a subject and a summary.")
            args["subject"], args["summary"] = subject[:200], summary[:5000]
        elif tool == "handoff_to_human":
            reason = str(args.get("reason") or "").strip()
            if not reason:
                raise _InvalidArgs("Say why a human is needed.")
            args["reason"] = reason[:1000]
        return args

    def _evaluate(
        self,
        request: ActionRequest,
        *,
        approved: bool = False,
        exclude_key: str | None = None,
        pinned_amount: Decimal | None = None,
    ) -> _Evaluation:
        """Validate, check identity and policy. ``pinned_amount``: the amount the customer
        confirmed (preview) or the reviewer approved; a whole-order refund must still be
        exactly that, never a re-computed different sum."""
        tool = request.tool
        try:
            args = self._normalise(tool, request.args)
        except _InvalidArgs as exc:
            raw = request.args if isinstance(request.args, dict) else {"raw": str(request.args)}
            key = idempotency_key(request.conversation_id, tool, raw)
            return _Evaluation(
                args=dict(raw), key=key,
                decision=pol.refuse(pol.INVALID_ARGUMENTS, str(exc)),
                summary={"action": tool},
            )
        key = idempotency_key(request.conversation_id, tool, args)
        summary: dict[str, Any] = {"action": tool}
        if tool not in ORDER_TOOLS:
            return self._evaluate_other(request, args, key, summary)

        number = args["order_number"]
        summary["order_number"] = number
        try:
            order = self.backend.get_order(number)
        except BackendError as exc:
            return _Evaluation(args=args, key=key, summary=summary, decision=pol.refuse(
                BACKEND_UNAVAILABLE, f"The order system is unavailable ({exc.code})."))
        access = pol.check_access(order, request.identity)
        if not access.allowed or order is None:
            return _Evaluation(args=args, key=key, decision=access, summary=summary)

        ev = _Evaluation(args=args, key=key, decision=access, summary=summary, order=order,
                         owner=order.customer_id)
        if tool == "get_order_status":
            return ev
        if tool == "refund_order":
            now = self.clock()
            ev.decision = pol.check_refund(
                order,
                item_names=args["item_names"],
                amount=args["amount"] if args["amount"] is not None else pinned_amount,
                now=now,
                config=self.policy,
                # this action's own claim/approval never counts against itself
                refunded_today=self._refunded_today(order.customer_id, now, exclude_key or key),
                reserved=self._reserved_on_order(order.number, exclude_key or key),
                approved=approved,
            )
            d = ev.decision.details
            if ev.decision.allowed:
                ev.amount = Decimal(d["amount"])
                summary.update(
                    items=[{"name": i["name"], "quantity": i["quantity"]} for i in d["items"]],
                    excluded_items=d["excluded_items"],
                    amount=d["amount"],
                    currency=d["currency"],
                    destination=d["destination"],
                    needs_approval=ev.decision.needs_approval,
                    reason=args["reason"],
                )
            return ev
        if tool == "cancel_order":
            ev.decision = pol.check_cancel(order, self.policy)
            if ev.decision.allowed:
                d = ev.decision.details
                ev.amount = Decimal(d["refund_amount"])
                summary.update(
                    items=[{"name": i.name, "quantity": i.quantity} for i in order.items],
                    amount=d["refund_amount"], currency=d["currency"],
                    destination=d["destination"], reason=args["reason"],
                )
            return ev
        # update_shipping_address
        address = {k: args[k] for k in ("line1", "line2", "postal_code", "city", "country")}
        ev.decision = pol.check_address_change(order, address, self.policy)
        if ev.decision.allowed:
            summary.update(destination=address, current_city=order.ship_city,
                           current_country=order.ship_country)
        return ev

    def _evaluate_other(
        self, request: ActionRequest, args: dict[str, Any], key: str, summary: dict[str, Any]
    ) -> _Evaluation:
        ok = PolicyDecision(allowed=True, code=pol.OK, reason="No policy restriction.")
        if request.tool == "list_recent_orders":
            summary["limit"] = args["limit"]
        elif request.tool == "create_ticket":
            summary.update(subject=args["subject"], order_number=args["order_number"])
        else:
            summary["reason"] = args["reason"]
        return _Evaluation(args=args, key=key, decision=ok, summary=summary,
                           owner=request.identity.customer_id)

    # --- amounts held by other actions ----------------------------------------------------

    def _refunded_today(self, customer_id: str, now: datetime, exclude_key: str | None) -> Decimal:
        """Refunds executed today + refunds in flight or awaiting approval since today."""
        today = self.policy.local_date(now)
        since = now - timedelta(days=2)
        with Session(self.engine) as session:
            rows = session.exec(
                select(ActionExecution).where(
                    col(ActionExecution.customer_id) == customer_id,
                    col(ActionExecution.tool) == "refund_order",
                    col(ActionExecution.status).in_(list(_ES.RESERVING)),
                    col(ActionExecution.updated_at) >= since,
                )
            ).all()
        total = ZERO
        for row in rows:
            if row.idempotency_key == exclude_key or row.amount is None:
                continue
            moment = row.executed_at or row.created_at
            if row.status == _ES.IN_PROGRESS or self.policy.local_date(moment) == today:
                total += row.amount
        return total

    def _reserved_on_order(self, order_number: str, exclude_key: str | None) -> Decimal:
        """Refund amounts of other in-flight or approval-waiting actions on this order."""
        with Session(self.engine) as session:
            rows = session.exec(
                select(ActionExecution).where(
                    col(ActionExecution.order_number) == order_number,
                    col(ActionExecution.tool) == "refund_order",
                    col(ActionExecution.status).in_([_ES.IN_PROGRESS, _ES.PENDING_APPROVAL]),
                )
            ).all()
        return sum(
            (r.amount for r in rows if r.amount is not None and r.idempotency_key != exclude_key),
            ZERO,
        )

    # ====================================================================================
    # execute
    # ====================================================================================

    def execute(self, preview: ActionPreview, approved_by: str | None = None) -> ActionOutcome:
        """Execute a previewed action exactly once (see the module docstring)."""
        request = preview.request
        if request.tool not in SIDE_EFFECT_TOOLS and request.tool not in (
            "create_ticket", "handoff_to_human"
        ):
            return self._execute_read(request)
        key = preview.idempotency_key
        approved = bool(approved_by and approved_by.strip())

        existing = self._load_execution(key)
        if existing is not None:
            outcome = self._settle_existing(existing, waited=False)
            if outcome is not None:
                return self._replayed(request, outcome)

        pinned = _pinned_amount(preview.summary)
        pre = self._evaluate(request, approved=approved, exclude_key=key, pinned_amount=pinned)
        if pre.key != key:
            return self._refusal(
                request, pre.args, key,
                pol.refuse(pol.INVALID_ARGUMENTS, "The preview does not match the request."),
            )

        waited = False
        while True:
            if pre.decision.allowed and self._claim(request, pre, key):
                break
            row = self._load_execution(key)
            if row is None:
                if not pre.decision.allowed:  # refused, and no duplicate in flight
                    return self._refusal(request, pre.args, key, pre.decision)
                continue
            if row.status == _ES.IN_PROGRESS:  # a duplicate is running: wait for its outcome
                row = self._wait_while_in_progress(key)
                waited = True
                if row is None:
                    continue
                if row.status == _ES.IN_PROGRESS:
                    return self._replayed(request, ActionOutcome(
                        status="failed", tool=request.tool, code="in_progress",
                        message="This action is still being processed; please check back.",
                        idempotency_key=key))
            outcome = self._settle_existing(row, waited=waited)
            if outcome is not None:
                return self._replayed(request, outcome)
            if not pre.decision.allowed:
                return self._refusal(request, pre.args, key, pre.decision)
            if self._reclaim(key, row.status, pre.amount):
                break
        return self._run_claimed(request, key, approved_by=approved_by if approved else None,
                                 pinned_amount=pinned)

    def _run_claimed(
        self,
        request: ActionRequest,
        key: str,
        *,
        approved_by: str | None,
        approval_id: str | None = None,
        pinned_amount: Decimal | None = None,
    ) -> ActionOutcome:
        """We own the claim (status in_progress): re-check, then act or stop."""
        try:
            ev = self._evaluate(request, approved=approved_by is not None, exclude_key=key,
                                pinned_amount=pinned_amount)
            if ev.key != key:
                ev.decision = pol.refuse(pol.INVALID_ARGUMENTS,
                                         "The request does not match its idempotency key.")
            if not ev.decision.allowed:
                outcome = self._decision_outcome(request.tool, ev.decision, key)
                if ev.decision.code == BACKEND_UNAVAILABLE:
                    outcome = self._with_follow_up(request, key, outcome, ev.decision.reason)
                outcome = replace(outcome, approval_id=approval_id)
                self._finish(key, outcome, amount=None)
                self._audit(request=request,
                            event="failed" if outcome.status == "failed" else "refused",
                            args=ev.args, code=ev.decision.code, reason=ev.decision.reason,
                            result=outcome.result, order_number=ev.args.get("order_number"),
                            key=key, approval_id=approval_id)
                return outcome
            self._set_claim_amount(key, ev.amount)
            if ev.decision.needs_approval and approved_by is None:
                return self._request_approval(request, ev)
            return self._perform(request, ev, approved_by=approved_by, approval_id=approval_id)
        except Exception as exc:
            log.exception("action %s failed unexpectedly", request.tool)
            outcome = ActionOutcome(
                status="failed", tool=request.tool, code="error",
                message="Something went wrong, nothing was confirmed. A team member will "
                "follow up.", idempotency_key=key, approval_id=approval_id)
            self._finish(key, outcome, amount=None, status=_ES.FAILED)
            ticket = self._safe_ticket(request, key, f"Action {request.tool} errored: {exc!r}")
            self._audit(request=request, event="failed", args=request.args, code="error",
                        reason=repr(exc)[:2000], result={"ticket_id": ticket}, key=key,
                        approval_id=approval_id)
            return outcome

    def _perform(
        self,
        request: ActionRequest,
        ev: _Evaluation,
        *,
        approved_by: str | None,
        approval_id: str | None,
    ) -> ActionOutcome:
        tool, args, key = request.tool, ev.args, ev.key
        number = args.get("order_number")
        try:
            result, message = self._call_backend(request, ev)
        except BackendUnavailable as exc:
            return self._fail_with_follow_up(
                request, key, args, code=BACKEND_UNAVAILABLE, reason=str(exc),
                message=BACKEND_DOWN_MESSAGE, approval_id=approval_id,
                ticket_summary=f"{tool} could not be completed because the order system was "
                f"unavailable ({exc}). Summary: {_json(ev.summary, 2000)}. Retry with "
                f"idempotency key {key} (safe: the shop dedupes it).",
            )
        except BackendRejected as exc:
            outcome = ActionOutcome(
                status="refused", tool=tool, code=exc.code,
                message="The order system refused this change, nothing was done.",
                result={"order_number": number}, idempotency_key=key, approval_id=approval_id)
            self._finish(key, outcome, amount=None, status=_ES.REFUSED)
            self._audit(request=request, event="refused", args=args, code=exc.code,
                        reason=f"backend rejected: {exc}", order_number=number, key=key,
                        approval_id=approval_id)
            return outcome
        outcome = ActionOutcome(status="executed", tool=tool, code=pol.OK, message=message,
                                result=result, idempotency_key=key, approval_id=approval_id)
        outcome = ActionOutcome(**self._outcome_to_dict(outcome))  # as replays will see it
        self._finish(key, outcome, amount=ev.amount, status=_ES.EXECUTED)
        who = {"approved_by": approved_by} if approved_by else {}
        self._audit(request=request, event="executed", args=args, code=ev.decision.code,
                    reason=ev.decision.reason, result={**result, **who}, order_number=number,
                    key=key, approval_id=approval_id)
        return outcome

    def _fail_with_follow_up(
        self,
        request: ActionRequest,
        key: str,
        args: dict[str, Any],
        *,
        code: str,
        reason: str,
        message: str,
        ticket_summary: str,
        approval_id: str | None,
        event: str = "failed",
        actor: str | None = None,
    ) -> ActionOutcome:
        """Settle our claim as failed (a retry with the same key may claim it again) and
        open a follow-up ticket, so a human finishes what the customer asked for."""
        number = args.get("order_number")
        ticket = self._safe_ticket(request, key, ticket_summary)
        outcome = ActionOutcome(
            status="failed", tool=request.tool, code=code, message=message,
            result={"ticket_id": ticket, "order_number": number}, idempotency_key=key,
            approval_id=approval_id)
        self._finish(key, outcome, amount=None, status=_ES.FAILED)
        self._audit(request=request, event=event, args=args, code=code, reason=reason[:2000],
                    result=outcome.result, order_number=number, key=key,
                    approval_id=approval_id, actor=actor)
        return outcome

    def _call_backend(
        self, request: ActionRequest, ev: _Evaluation
    ) -> tuple[dict[str, Any], str]:
        tool, args, key = request.tool, ev.args, ev.key
        if tool == "refund_order":
            d = ev.decision.details
            raw = self.backend.issue_refund(
                args["order_number"], Decimal(d["amount"]), list(d["item_ids"]),
                args["reason"] or "Refund requested through support", key)
            result = {
                "order_number": args["order_number"], "amount": d["amount"],
                "currency": d["currency"], "destination": d["destination"],
                "items": [i["name"] for i in d["items"]],
                "refund_ids": raw.get("refund_ids", []),
            }
            if d["destination"] == "gift card balance":
                where = "as gift card balance"
            else:
                where = ("to the original payment method; banks take a further 3–10 business "
                         "days")
            return result, f"Refund of {d['amount']} {d['currency']} issued {where}."
        if tool == "cancel_order":
            raw = self.backend.cancel_order(args["order_number"], key)
            released = str(raw.get("refunded_amount", ev.decision.details["refund_amount"]))
            result = {"order_number": args["order_number"], "status": "cancelled",
                      "refunded_amount": released,
                      "currency": ev.decision.details["currency"]}
            return result, f"Order {args['order_number']} is cancelled."
        if tool == "update_shipping_address":
            address = {k: args[k] for k in ("line1", "line2", "postal_code", "city", "country")}
            self.backend.update_address(args["order_number"], address, key)
            return ({"order_number": args["order_number"], "shipping_address": address},
                    f"The shipping address of {args['order_number']} is updated.")
        # tickets
        kind = "handoff" if tool == "handoff_to_human" else "ticket"
        subject = args.get("subject") or "Customer asked for a human"
        summary = args.get("summary") or args.get("reason") or ""
        number = args.get("order_number")
        if number is not None:
            try:
                order = self.backend.get_order(number)
                owned = order is not None and request.identity.can_act_on(
                    number, order.customer_id)
            except BackendError:
                owned = False
            if not owned:
                summary += f"\n[order number {number} given but not verified for this customer]"
        ticket = self._insert_ticket(
            kind=kind, conversation_id=request.conversation_id,
            customer_id=request.identity.customer_id, order_number=number,
            subject=subject, summary=summary, key=key)
        message = ("A team member will join this conversation shortly." if kind == "handoff"
                   else "I've opened a ticket; the team will follow up by email.")
        return {"ticket_id": ticket["id"], "kind": kind}, message

    def _request_approval(self, request: ActionRequest, ev: _Evaluation) -> ActionOutcome:
        now = self.clock()
        approval = PendingApproval(
            idempotency_key=ev.key,
            tool=request.tool,
            conversation_id=request.conversation_id,
            customer_id=ev.owner,
            order_number=ev.args.get("order_number"),
            amount=ev.amount,
            currency=ev.summary.get("currency"),
            request_json=_json(self._request_to_dict(request, ev.args)),
            summary_json=_json(ev.summary),
            reason=ev.decision.reason[:500],
            requested_at=now,
        )
        with Session(self.engine) as session:
            existing = session.exec(
                select(PendingApproval).where(col(PendingApproval.idempotency_key) == ev.key)
            ).first()
            if existing is None:
                session.add(approval)
                session.commit()
                approval_id = approval.id
            else:  # approved earlier but the backend failed: ask again
                approval_id = existing.id
                existing.status = "pending"
                existing.outcome_json = None
                existing.amount = ev.amount
                existing.requested_at = now
                session.add(existing)
                session.commit()
        outcome = ActionOutcome(
            status="pending_approval", tool=request.tool, code=pol.NEEDS_APPROVAL,
            message="A team member reviews refunds of this size before they are issued, "
            "usually within one business day. You'll hear back soon.",
            result={"order_number": ev.args.get("order_number"),
                    "amount": ev.summary.get("amount"), "currency": ev.summary.get("currency")},
            idempotency_key=ev.key, approval_id=approval_id)
        self._finish(ev.key, outcome, amount=ev.amount, status=_ES.PENDING_APPROVAL,
                     approval_id=approval_id)
        self._audit(request=request, event="approval_requested", args=ev.args,
                    code=ev.decision.code, reason=ev.decision.reason, result=outcome.result,
                    order_number=ev.args.get("order_number"), key=ev.key,
                    approval_id=approval_id)
        return outcome

    # --- claims ---------------------------------------------------------------------------

    def _claim(self, request: ActionRequest, ev: _Evaluation, key: str) -> bool:
        """Insert the execution row; False when the key already has one (the DB says so)."""
        now = self.clock()
        row = ActionExecution(
            idempotency_key=key,
            tool=request.tool,
            conversation_id=request.conversation_id,
            customer_id=ev.owner or request.identity.customer_id,
            order_number=ev.args.get("order_number"),
            amount=ev.amount,
            currency=ev.summary.get("currency"),
            args_json=_json(ev.args),
            status=_ES.IN_PROGRESS,
            created_at=now,
            updated_at=now,
        )
        with Session(self.engine) as session:
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                return False
        return True

    def _reclaim(self, key: str, seen_status: str, amount: Decimal | None) -> bool:
        """Take over a refused/failed claim to re-evaluate it (atomic compare-and-set)."""
        if seen_status not in _ES.RETRYABLE:
            return False
        return self._transition(key, {seen_status}, _ES.IN_PROGRESS, amount=amount, bump=True)

    def _transition(
        self,
        key: str,
        from_statuses: set[str] | frozenset[str],
        to_status: str,
        *,
        amount: Decimal | None = None,
        bump: bool = False,
    ) -> bool:
        values: dict[str, Any] = {"status": to_status, "updated_at": self.clock()}
        if amount is not None:
            values["amount"] = amount
        if bump:
            values["attempts"] = col(ActionExecution.attempts) + 1
        stmt = (
            update(ActionExecution)
            .where(col(ActionExecution.idempotency_key) == key,
                   col(ActionExecution.status).in_(list(from_statuses)))
            .values(**values)
        )
        with Session(self.engine) as session:
            result = session.connection().execute(stmt)
            session.commit()
            return bool(result.rowcount)

    def _set_claim_amount(self, key: str, amount: Decimal | None) -> None:
        if amount is None:
            return
        stmt = (update(ActionExecution)
                .where(col(ActionExecution.idempotency_key) == key)
                .values(amount=amount))
        with Session(self.engine) as session:
            session.connection().execute(stmt)
            session.commit()

    def _finish(
        self,
        key: str,
        outcome: ActionOutcome,
        *,
        amount: Decimal | None,
        status: str | None = None,
        approval_id: str | None = None,
    ) -> None:
        """Record the outcome on our claim (only while it is ours: in_progress)."""
        if status is None:
            status = {"not_found": _ES.NOT_FOUND, "failed": _ES.FAILED}.get(
                outcome.status, _ES.REFUSED)
        now = self.clock()
        values: dict[str, Any] = {
            "status": status,
            "code": outcome.code[:64],
            "outcome_json": _json(self._outcome_to_dict(outcome)),
            "updated_at": now,
        }
        if amount is not None:
            values["amount"] = amount
        if approval_id is not None:
            values["approval_id"] = approval_id
        if status == _ES.EXECUTED:
            values["executed_at"] = now
        stmt = (
            update(ActionExecution)
            .where(col(ActionExecution.idempotency_key) == key,
                   col(ActionExecution.status) == _ES.IN_PROGRESS)
            .values(**values)
        )
        with Session(self.engine) as session:
            session.connection().execute(stmt)
            session.commit()

    def _load_execution(self, key: str) -> ActionExecution | None:
        with Session(self.engine) as session:
            return session.exec(
                select(ActionExecution).where(col(ActionExecution.idempotency_key) == key)
            ).first()

    def _wait_while_in_progress(self, key: str) -> ActionExecution | None:
        deadline = time.monotonic() + self.policy.duplicate_wait_s
        row = self._load_execution(key)
        while row is not None and row.status == _ES.IN_PROGRESS and time.monotonic() < deadline:
            time.sleep(self.poll_interval_s)
            row = self._load_execution(key)
        return row

    def _settle_existing(self, row: ActionExecution, *, waited: bool) -> ActionOutcome | None:
        """The stored outcome to replay, or None when the caller may (re)claim the key."""
        if row.status in _ES.FINAL or row.status == _ES.PENDING_APPROVAL:
            return self._stored_outcome(row)
        if row.status in _ES.RETRYABLE and waited:
            return self._stored_outcome(row)
        return None

    def _stored_outcome(self, row: ActionExecution) -> ActionOutcome | None:
        if not row.outcome_json:
            return None
        data = json.loads(row.outcome_json)
        return ActionOutcome(**data)

    def _replayed(self, request: ActionRequest, outcome: ActionOutcome) -> ActionOutcome:
        replay = ActionOutcome(**{**self._outcome_to_dict(outcome), "replayed": True})
        self._audit(request=request, event="replayed", args=request.args, code=outcome.code,
                    reason=f"duplicate of an earlier {outcome.status} action",
                    result={"status": outcome.status}, key=outcome.idempotency_key,
                    approval_id=outcome.approval_id,
                    order_number=str(request.args.get("order_number") or "") or None)
        return replay

    def _refusal(
        self,
        request: ActionRequest,
        args: dict[str, Any],
        key: str,
        decision: PolicyDecision,
        *,
        follow_up: bool = True,
    ) -> ActionOutcome:
        outcome = self._decision_outcome(request.tool, decision, key)
        if follow_up and decision.code == BACKEND_UNAVAILABLE:
            outcome = self._with_follow_up(request, key, outcome, decision.reason)
        self._audit(request=request,
                    event="failed" if outcome.status == "failed" else "refused",
                    args=args, code=decision.code, reason=decision.reason, key=key,
                    result=outcome.result,
                    order_number=str(args.get("order_number") or "") or None)
        return outcome

    def _with_follow_up(
        self, request: ActionRequest, key: str, outcome: ActionOutcome, reason: str
    ) -> ActionOutcome:
        """A failed side effect: open a ticket so a human follows up."""
        ticket = self._safe_ticket(
            request, key,
            f"{request.tool} could not be checked or completed: {reason} Arguments: "
            f"{_json(request.args, 2000)}. Retrying with idempotency key {key} is safe.")
        return replace(outcome, message=BACKEND_DOWN_MESSAGE,
                       result={**outcome.result, "ticket_id": ticket})

    @staticmethod
    def _decision_outcome(tool: str, decision: PolicyDecision, key: str) -> ActionOutcome:
        if decision.code == pol.NOT_FOUND:
            return ActionOutcome(status="not_found", tool=tool, code=pol.NOT_FOUND,
                                 message=pol.NOT_FOUND_MESSAGE, idempotency_key=key,
                                 result={"verification_required":
                                         decision.details.get("verification_required", False)})
        if decision.code == BACKEND_UNAVAILABLE:
            return ActionOutcome(status="failed", tool=tool, code=BACKEND_UNAVAILABLE,
                                 message="I couldn't reach the order system just now, so "
                                 "nothing was changed. Please try again in a moment.",
                                 idempotency_key=key)
        safe = {k: v for k, v in decision.details.items() if k not in ("order_items",)}
        return ActionOutcome(status="refused", tool=tool, code=decision.code,
                             message=decision.reason, result=safe, idempotency_key=key)

    @staticmethod
    def _outcome_to_dict(outcome: ActionOutcome) -> dict[str, Any]:
        data = asdict(outcome)
        data.pop("replayed", None)
        return json.loads(_json(data))

    @staticmethod
    def _request_to_dict(request: ActionRequest, args: dict[str, Any]) -> dict[str, Any]:
        ident = request.identity
        return {
            "tool": request.tool,
            "args": args,
            "conversation_id": request.conversation_id,
            "source": request.source,
            "identity": {
                "customer_id": ident.customer_id,
                "verified": ident.verified,
                "verified_orders": sorted(ident.verified_orders),
                "channel": ident.channel,
            },
        }

    @staticmethod
    def _request_from_dict(data: dict[str, Any]) -> ActionRequest:
        ident = data["identity"]
        return ActionRequest(
            tool=data["tool"],
            args=data["args"],
            conversation_id=data["conversation_id"],
            identity=Identity(
                customer_id=ident["customer_id"],
                verified=ident["verified"],
                verified_orders=frozenset(ident["verified_orders"]),
                channel=ident["channel"],
            ),
            source=data.get("source", "offline"),
        )

    # ====================================================================================
    # approvals
    # ====================================================================================

    def list_approvals(self, status: str | None = "pending") -> list[dict[str, Any]]:
        """Approvals (all when ``status`` is None), oldest first, as JSON-safe dicts."""
        with Session(self.engine) as session:
            stmt = select(PendingApproval).order_by(col(PendingApproval.requested_at))
            if status is not None:
                stmt = stmt.where(col(PendingApproval.status) == status)
            rows = session.exec(stmt).all()
        return [self._approval_dict(r) for r in rows]

    @staticmethod
    def _approval_dict(row: PendingApproval) -> dict[str, Any]:
        return {
            "approval_id": row.id,
            "status": row.status,
            "tool": row.tool,
            "conversation_id": row.conversation_id,
            "customer_id": row.customer_id,
            "order_number": row.order_number,
            "amount": money(row.amount) if row.amount is not None else None,
            "currency": row.currency,
            "summary": json.loads(row.summary_json),
            "reason": row.reason,
            "idempotency_key": row.idempotency_key,
            "requested_at": row.requested_at.isoformat(),
            "decided_at": row.decided_at.isoformat() if row.decided_at else None,
            "reviewer": row.reviewer,
            "note": row.note,
        }

    def decide_approval(
        self, approval_id: str, approve: bool, reviewer: str, note: str = ""
    ) -> ActionOutcome:
        """Approve (executes exactly once, after re-checking identity and policy) or reject."""
        reviewer = reviewer.strip()
        if not reviewer:
            raise ValueError("a reviewer name is required")
        with Session(self.engine) as session:
            approval = session.get(PendingApproval, approval_id)
        if approval is None:
            return ActionOutcome(status="not_found", tool="", code=pol.NOT_FOUND,
                                 message="No such approval request.")
        request = self._request_from_dict(json.loads(approval.request_json))
        key = approval.idempotency_key
        now = self.clock()
        new_status = "approved" if approve else "rejected"
        stmt = (
            update(PendingApproval)
            .where(col(PendingApproval.id) == approval_id,
                   col(PendingApproval.status).in_(["pending", "failed"]))
            .values(status=new_status, reviewer=reviewer[:128], note=note[:1000],
                    decided_at=now, outcome_json=None)
        )
        with Session(self.engine) as session:
            won = bool(session.connection().execute(stmt).rowcount)
            session.commit()
        if not won:  # decided already (or concurrently): replay the first decision
            stored = self._wait_approval_outcome(approval_id)
            if stored is None:
                stored = ActionOutcome(status="failed", tool=request.tool, code="in_progress",
                                       message="This approval is still being processed.",
                                       idempotency_key=key, approval_id=approval_id)
            return self._replayed(request, stored)

        reviewer_actor = f"reviewer:{reviewer}"
        if not approve:
            outcome = ActionOutcome(
                status="rejected", tool=request.tool, code="rejected_by_reviewer",
                message="A team member reviewed this request and could not approve it."
                + (f" Note: {note}" if note else ""),
                result={"order_number": approval.order_number}, idempotency_key=key,
                approval_id=approval_id)
            self._transition(key, {_ES.PENDING_APPROVAL, _ES.FAILED}, _ES.IN_PROGRESS)
            self._finish(key, outcome, amount=None, status=_ES.REJECTED)
            self._store_approval_outcome(approval_id, outcome, "rejected")
            self._audit(request=request, event="rejected", args=request.args,
                        code="rejected_by_reviewer", reason=note or "rejected by reviewer",
                        actor=reviewer_actor, order_number=approval.order_number, key=key,
                        approval_id=approval_id)
            return outcome

        self._audit(request=request, event="approved", args=request.args, code="approved",
                    reason=note or "approved by reviewer", actor=reviewer_actor,
                    order_number=approval.order_number, key=key, approval_id=approval_id)
        if not self._transition(key, {_ES.PENDING_APPROVAL, _ES.FAILED}, _ES.IN_PROGRESS,
                                bump=True):
            row = self._load_execution(key)
            stored = self._stored_outcome(row) if row is not None else None
            if stored is not None:
                return self._replayed(request, stored)
            # no execution row (should not happen): claim one now
            pre = self._evaluate(request, approved=True, pinned_amount=approval.amount)
            if not self._claim(request, pre, key):
                return ActionOutcome(status="failed", tool=request.tool, code="in_progress",
                                     message="This approval is still being processed.",
                                     idempotency_key=key, approval_id=approval_id)
        outcome = self._run_claimed(request, key, approved_by=reviewer,
                                    approval_id=approval_id, pinned_amount=approval.amount)
        final = "failed" if outcome.status == "failed" else "approved"
        self._store_approval_outcome(approval_id, outcome, final)
        return outcome

    def _wait_approval_outcome(self, approval_id: str) -> ActionOutcome | None:
        deadline = time.monotonic() + self.policy.duplicate_wait_s
        while True:
            with Session(self.engine) as session:
                row = session.get(PendingApproval, approval_id)
            if row is not None and row.outcome_json:
                return ActionOutcome(**json.loads(row.outcome_json))
            if row is None or time.monotonic() >= deadline:
                return None
            time.sleep(self.poll_interval_s)

    def _store_approval_outcome(self, approval_id: str, outcome: ActionOutcome,
                                status: str) -> None:
        stmt = (update(PendingApproval)
                .where(col(PendingApproval.id) == approval_id)
                .values(status=status, outcome_json=_json(self._outcome_to_dict(outcome))))
        with Session(self.engine) as session:
            session.connection().execute(stmt)
            session.commit()

    # ====================================================================================
    # actions interrupted by a dead process
    # ====================================================================================

    @property
    def interrupted_after_s(self) -> float:
        """How long a claim must have stayed untouched in ``in_progress`` before
        `reconcile_interrupted` settles it: 4 x ``duplicate_wait_s`` (2 minutes by
        default), never under a minute. A live claim lasts one policy check and one backend
        write, and duplicates already give up waiting on it after ``duplicate_wait_s``; a
        claim this old belongs to a process that died, not to a concurrent worker."""
        return max(MIN_INTERRUPTED_AFTER_S, 4 * self.policy.duplicate_wait_s)

    def reconcile_interrupted(self, older_than_s: float | None = None) -> list[ActionOutcome]:
        """Settle the actions a killed process left ``in_progress``; returns their outcomes.

        Run when the runtime starts. Only claims untouched for ``older_than_s`` seconds
        (default `interrupted_after_s`) are taken. The shop is asked whether the write took
        effect (`tools.backend.ExecutionLookup`): if it did, the claim becomes ``executed``
        (audit event ``reconciled_executed``); if it did not, or the shop cannot say, it
        becomes ``failed`` with code ``interrupted`` (event ``reconciled_failed``) and a
        follow-up ticket, as when the backend is down. A retry re-uses the key, so the shop
        dedupes it.
        """
        grace = self.interrupted_after_s if older_than_s is None else older_than_s
        now = self.clock()
        cutoff = now - timedelta(seconds=grace)
        # one being settled by another reconciler waits the full grace, whatever older_than_s
        abandoned = now - timedelta(seconds=max(grace, self.interrupted_after_s))
        with Session(self.engine) as session:
            rows = session.exec(
                select(ActionExecution)
                .where(col(ActionExecution.status) == _ES.IN_PROGRESS,
                       col(ActionExecution.updated_at) <= cutoff,
                       or_(col(ActionExecution.code) != RECONCILING,
                           col(ActionExecution.updated_at) <= abandoned))
                .order_by(col(ActionExecution.id))
            ).all()
        settled = (self._settle_interrupted(row) for row in rows)
        return [outcome for outcome in settled if outcome is not None]

    def _settle_interrupted(self, row: ActionExecution) -> ActionOutcome | None:
        if not self._take_over(row):
            return None  # its owner finished it, or another process settles it
        key, number = row.idempotency_key, row.order_number
        try:
            args = json.loads(row.args_json)
        except ValueError:  # cut at the audit size limit: what the row itself says
            args = {"order_number": number}
        request = ActionRequest(tool=row.tool, args=args, conversation_id=row.conversation_id,
                                identity=Identity(customer_id=row.customer_id, channel="system"))
        found, answer = self._lookup_execution(row, args)
        reason = f"interrupted before its outcome was recorded; {answer}"
        if found is None:
            outcome = self._fail_with_follow_up(
                request, key, args, code=INTERRUPTED, reason=reason,
                message=INTERRUPTED_MESSAGE, approval_id=row.approval_id,
                event="reconciled_failed", actor=RECONCILER,
                ticket_summary=f"{row.tool} was {reason}. Arguments: {_json(args, 2000)}. "
                f"Check the order; retrying with idempotency key {key} is safe (the shop "
                "dedupes it).",
            )
        else:
            outcome, amount = self._reconciled_execution(row, found)
            self._finish(key, outcome, amount=amount, status=_ES.EXECUTED)
            self._audit(request=request, event="reconciled_executed", args=args, code=pol.OK,
                        reason=reason, result=outcome.result, order_number=number, key=key,
                        approval_id=row.approval_id, actor=RECONCILER)
        if row.approval_id is not None:
            self._store_approval_outcome(
                row.approval_id, outcome, "failed" if outcome.status == "failed" else "approved")
        log.warning("settled an interrupted %s on order %s as %s: %s", row.tool,
                    number or "-", outcome.status, answer)
        return outcome

    def _take_over(self, row: ActionExecution) -> bool:
        """Compare-and-set on a claim seen in_progress: True for the one caller that finds
        it unchanged (status, updated_at, code, attempts); it is marked ``reconciling``
        (and its attempts counted) so that no other reconciler takes it meanwhile."""
        stmt = (
            update(ActionExecution)
            .where(col(ActionExecution.idempotency_key) == row.idempotency_key,
                   col(ActionExecution.status) == _ES.IN_PROGRESS,
                   col(ActionExecution.updated_at) == row.updated_at,
                   col(ActionExecution.code) == row.code,
                   col(ActionExecution.attempts) == row.attempts)
            .values(updated_at=self.clock(), code=RECONCILING,
                    attempts=col(ActionExecution.attempts) + 1)
        )
        with Session(self.engine) as session:
            result = session.connection().execute(stmt)
            session.commit()
            return bool(result.rowcount)

    def _lookup_execution(
        self, row: ActionExecution, args: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, str]:
        """The interrupted write's result when it took effect (else None), and how that
        was found out, for the audit record and the log."""
        if row.tool in TICKET_TOOLS:
            with Session(self.engine) as session:
                ticket = session.exec(select(Ticket).where(
                    col(Ticket.idempotency_key) == row.idempotency_key,
                    col(Ticket.kind) != "follow_up")).first()
            if ticket is None:
                return None, "no ticket was opened"
            return {"ticket_id": ticket.id, "kind": ticket.kind}, "the ticket was opened"
        if not isinstance(self.backend, ExecutionLookup) or row.order_number is None:
            return None, "the order system cannot say whether it took effect"
        try:
            found = self.backend.lookup_execution(row.tool, row.order_number,
                                                  row.idempotency_key, args)
        except Exception as exc:  # unknown, settled as such: a start-up must not stop here
            return None, ("the order system could not say whether it took effect "
                          f"({type(exc).__name__})")
        if found is None:
            return None, "the order system has no record of it"
        return found, "the order system confirms it took effect"

    @staticmethod
    def _reconciled_execution(
        row: ActionExecution, found: dict[str, Any]
    ) -> tuple[ActionOutcome, Decimal | None]:
        """The executed outcome of an interrupted action, and the amount it moved."""
        result = {k: v for k, v in found.items() if k != "duplicate"}
        number = row.order_number
        raw = found.get("refunded_amount" if row.tool == "cancel_order" else "amount")
        try:
            amount = Decimal(str(raw)).quantize(CENT) if raw is not None else None
        except InvalidOperation:
            amount = None
        currency = found.get("currency") or row.currency or ""
        messages = {
            "refund_order": f"Refund of {amount or row.amount} {currency} issued.",
            "cancel_order": f"Order {number} is cancelled.",
            "update_shipping_address": f"The shipping address of {number} is updated.",
        }
        outcome = ActionOutcome(
            status="executed", tool=row.tool, code=pol.OK,
            message=messages.get(row.tool, "A ticket is open; the team will follow up."),
            result={**result, "order_number": number, "reconciled": True},
            idempotency_key=row.idempotency_key, approval_id=row.approval_id)
        return outcome, amount if row.tool in ("refund_order", "cancel_order") else None

    # ====================================================================================
    # read-only lookups and verification
    # ====================================================================================

    def _execute_read(self, request: ActionRequest) -> ActionOutcome:
        ev = self._evaluate(request)
        if not ev.decision.allowed:
            return self._refusal(request, ev.args, ev.key, ev.decision, follow_up=False)
        if request.tool == "get_order_status":
            assert ev.order is not None
            result: dict[str, Any] = {"order": self.safe_order(ev.order)}
            message = f"Order {ev.order.number} is {ev.order.status}."
        else:
            try:
                orders = self._recent_orders(request.identity, ev.args["limit"])
            except BackendError as exc:
                return self._refusal(request, ev.args, ev.key, pol.refuse(
                    BACKEND_UNAVAILABLE, f"The order system is unavailable ({exc.code})."),
                    follow_up=False)
            result = {"orders": [self.safe_order(o, brief=True) for o in orders]}
            message = f"{len(orders)} recent order(s)."
        self._audit(request=request, event="lookup", args=ev.args, code=pol.OK,
                    reason="read-only lookup", order_number=ev.args.get("order_number"),
                    result={"count": len(result.get("orders", [])) or 1})
        return ActionOutcome(status="executed", tool=request.tool, code=pol.OK,
                             message=message, result=result, idempotency_key=ev.key)

    def _recent_orders(self, identity: Identity, limit: int) -> list[OrderView]:
        if identity.verified and identity.customer_id:
            orders = self.backend.list_orders(identity.customer_id, limit)
            return [o for o in orders if o.customer_id == identity.customer_id][:limit]
        found = []
        for number in sorted(identity.verified_orders):
            order = self.backend.get_order(number)
            if order is not None:
                found.append(order)
        found.sort(key=lambda o: o.created_at.isoformat() if o.created_at else "", reverse=True)
        return found[:limit]

    def get_order_status(
        self, order_number: str, identity: Identity, conversation_id: str = ""
    ) -> dict[str, Any]:
        """``{"found": True, "order": {...}}`` or ``{"found": False, "code", "message"}``."""
        outcome = self.execute(self.preview(ActionRequest(
            tool="get_order_status", args={"order_number": order_number},
            conversation_id=conversation_id, identity=identity)))
        if outcome.status != "executed":
            return {"found": False, "code": outcome.code, "message": outcome.message}
        return {"found": True, **outcome.result}

    def list_recent_orders(
        self, identity: Identity, limit: int = 5, conversation_id: str = ""
    ) -> list[dict[str, Any]]:
        """The identity's most recent orders (guests: their verified orders), newest first."""
        outcome = self.execute(self.preview(ActionRequest(
            tool="list_recent_orders", args={"limit": limit},
            conversation_id=conversation_id, identity=identity)))
        return list(outcome.result.get("orders", []))

    def safe_order(self, order: OrderView, *, brief: bool = False) -> dict[str, Any]:
        """An order as shown to its owner: no customer id, email or street address."""
        data: dict[str, Any] = {
            "order_number": order.number,
            "status": order.status,
            "created_at": order.created_at.isoformat() if order.created_at else None,
            "total": money(order.total),
            "currency": order.currency,
            "items": [i.name if brief else {
                "name": i.name, "quantity": i.quantity, "unit_price": money(i.unit_price),
                "refunded": money(i.refunded_amount)} for i in order.items],
        }
        if brief:
            return data
        days = pol.days_since_delivery(order, self.clock(), self.policy)
        data.update(
            refunded=money(order.refunded),
            pending_refunds=money(order.pending_refunds),
            shipped_at=order.shipped_at.isoformat() if order.shipped_at else None,
            delivered_at=order.delivered_at.isoformat() if order.delivered_at else None,
            carrier=order.carrier,
            tracking_number=order.tracking_number,
            shipping_city=order.ship_city,
            shipping_country=order.ship_country,
            days_since_delivery=days,
            return_window_open=days is not None and days <= self.policy.refund_window_days,
        )
        return data

    def verify_order_email(
        self, order_number: str, email: str, conversation_id: str = ""
    ) -> bool:
        """True when ``email`` is the email of the order's customer (for anonymous chats).

        Rate-limited per order: after ``max_verification_failures`` mismatches within
        ``verification_window_minutes`` every check fails. The caller then builds an
        ``Identity(verified_orders=frozenset({order_number}))``.
        """
        number = str(order_number).strip().upper()
        request = ActionRequest(tool="verify_order_email", args={"order_number": number},
                                conversation_id=conversation_id, identity=Identity())
        audit_args = {"order_number": number, "email": _mask_email(str(email))}

        def record(code: str, ok: bool) -> bool:
            self._audit(request=request, event="verification", args=audit_args, code=code,
                        reason="order number + email check", result={"verified": ok},
                        order_number=number if self.policy.valid_order_number(number) else None)
            return ok

        if not self.policy.valid_order_number(number) or "@" not in str(email):
            return record("invalid_arguments", False)
        since = self.clock() - timedelta(minutes=self.policy.verification_window_minutes)
        scopes = [col(AuditRecord.order_number) == number]
        if conversation_id:  # also stop one chat from guessing across many orders
            scopes.append(col(AuditRecord.conversation_id) == conversation_id)
        with Session(self.engine) as session:
            failures = max(
                session.exec(
                    select(func.count()).select_from(AuditRecord).where(
                        col(AuditRecord.event) == "verification",
                        col(AuditRecord.code) == "mismatch",
                        col(AuditRecord.created_at) >= since,
                        scope,
                    )
                ).one()
                for scope in scopes
            )
        if failures >= self.policy.max_verification_failures:
            return record("locked", False)
        try:
            order = self.backend.get_order(number)
            customer = self.backend.customer_by_email(str(email)) if order is not None else None
        except BackendError:
            return record(BACKEND_UNAVAILABLE, False)
        ok = (order is not None and customer is not None
              and customer.customer_id == order.customer_id)
        return record("match" if ok else "mismatch", ok)

    # ====================================================================================
    # tickets
    # ====================================================================================

    def create_ticket(
        self,
        conversation_id: str,
        subject: str,
        summary: str,
        customer_id: str | None,
        order_number: str | None = None,
        *,
        kind: str = "ticket",
    ) -> dict[str, Any]:
        """Open a ticket for a human (kind: ticket, handoff, follow_up); returns it as a dict."""
        ticket = self._insert_ticket(kind=kind, conversation_id=conversation_id,
                                     customer_id=customer_id, order_number=order_number,
                                     subject=subject, summary=summary, key=None)
        return ticket

    def handoff_to_human(
        self,
        conversation_id: str,
        reason: str,
        customer_id: str | None = None,
        order_number: str | None = None,
    ) -> dict[str, Any]:
        """A ticket of kind ``handoff``: a human takes over the conversation."""
        return self.create_ticket(conversation_id, "Handoff to a human agent", reason,
                                  customer_id, order_number, kind="handoff")

    def _insert_ticket(
        self,
        *,
        kind: str,
        conversation_id: str,
        customer_id: str | None,
        order_number: str | None,
        subject: str,
        summary: str,
        key: str | None,
    ) -> dict[str, Any]:
        ticket = Ticket(kind=kind, conversation_id=conversation_id, customer_id=customer_id,
                        order_number=order_number, subject=subject[:200],
                        summary=summary or subject, idempotency_key=key,
                        created_at=self.clock())
        with Session(self.engine) as session:
            session.add(ticket)
            session.commit()
            data = {
                "id": ticket.id, "kind": ticket.kind, "status": ticket.status,
                "conversation_id": ticket.conversation_id, "customer_id": ticket.customer_id,
                "order_number": ticket.order_number, "subject": ticket.subject,
                "summary": ticket.summary, "created_at": ticket.created_at.isoformat(),
            }
        self._audit(
            request=None, event="ticket_created", args={"subject": subject[:200]},
            code=kind, reason="ticket opened", result={"ticket_id": data["id"]},
            order_number=order_number, key=key, actor=f"customer:{customer_id}"
            if customer_id else "system", conversation_id=conversation_id, tool=kind,
        )
        return data

    def _safe_ticket(self, request: ActionRequest, key: str, summary: str) -> str | None:
        try:
            ticket = self._insert_ticket(
                kind="follow_up", conversation_id=request.conversation_id,
                customer_id=request.identity.customer_id,
                order_number=str(request.args.get("order_number") or "").upper() or None,
                subject=f"Follow up: {request.tool} could not be completed",
                summary=summary, key=key)
        except Exception:  # the DB itself is down: the failure is logged, never hidden
            log.exception("could not open a follow-up ticket for %s", key)
            return None
        return str(ticket["id"])

    # ====================================================================================
    # audit
    # ====================================================================================

    def _audit(
        self,
        *,
        request: ActionRequest | None,
        event: str,
        args: dict[str, Any],
        code: str = "",
        reason: str = "",
        result: dict[str, Any] | None = None,
        order_number: str | None = None,
        key: str | None = None,
        approval_id: str | None = None,
        actor: str | None = None,
        conversation_id: str | None = None,
        tool: str | None = None,
    ) -> None:
        record = AuditRecord(
            created_at=self.clock(),
            conversation_id=(conversation_id if conversation_id is not None
                             else request.conversation_id if request else "")[:128],
            actor=(actor or (actor_of(request.identity) if request else "system"))[:160],
            channel=(request.identity.channel if request else "")[:32],
            event=event,
            tool=(tool if tool is not None else request.tool if request else "")[:64],
            args_json=_json(args),
            code=code[:64],
            reason=reason,
            result_json=_json(result or {}),
            order_number=(order_number or None) and str(order_number)[:32],
            idempotency_key=key,
            approval_id=approval_id,
        )
        with Session(self.engine) as session:
            session.add(record)
            session.commit()

    def audit_trail(
        self, *, conversation_id: str | None = None, idempotency_key: str | None = None,
        order_number: str | None = None,
    ) -> list[dict[str, Any]]:
        """Audit records (oldest first) filtered by conversation, key or order."""
        stmt = select(AuditRecord).order_by(col(AuditRecord.id))
        if conversation_id is not None:
            stmt = stmt.where(col(AuditRecord.conversation_id) == conversation_id)
        if idempotency_key is not None:
            stmt = stmt.where(col(AuditRecord.idempotency_key) == idempotency_key)
        if order_number is not None:
            stmt = stmt.where(col(AuditRecord.order_number) == order_number)
        with Session(self.engine) as session:
            rows = session.exec(stmt).all()
        return [
            {
                "id": r.id, "created_at": r.created_at.isoformat(), "actor": r.actor,
                "event": r.event, "tool": r.tool, "args": json.loads(r.args_json),
                "code": r.code, "reason": r.reason, "result": json.loads(r.result_json),
                "conversation_id": r.conversation_id, "order_number": r.order_number,
                "idempotency_key": r.idempotency_key, "approval_id": r.approval_id,
            }
            for r in rows
        ]
