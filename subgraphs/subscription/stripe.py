"""Stripe's webhook scheme: the `Stripe-Signature` check and the event shapes we read.

A signature header is `t=<unix seconds>,v1=<hex>[,v1=<hex>…]` (other schemes such as
`v0` are ignored); each `v1` is HMAC-SHA256 of `f"{t}.{raw body}"` keyed with the
endpoint's signing secret. Several `v1` values appear while a secret is being rolled.
A timestamp further than the tolerance from now is refused, so a captured delivery
cannot be replayed later; a replay within the window is caught by the event id.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SIGNATURE_HEADER = "Stripe-Signature"
SCHEME = "v1"
# Stripe's subscription statuses (plans.SubscriptionStatus, less our NONE).
STATUSES = frozenset(
    {
        "active",
        "trialing",
        "past_due",
        "canceled",
        "unpaid",
        "incomplete",
        "incomplete_expired",
        "paused",
    }
)


class SignatureError(ValueError):
    """The delivery is not signed by the provider with our secret, or not recently."""


class MalformedEvent(ValueError):
    """A signed body that is not a Stripe event of a shape we understand."""


def signature(secret: str, payload: bytes, timestamp: int) -> str:
    """The hex `v1` signature of `payload` sent at `timestamp`."""
    signed = str(timestamp).encode() + b"." + payload
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def verify(header: str | None, payload: bytes, *, secret: str, tolerance: int, now: float) -> int:
    """The header's timestamp, if one of its `v1` signatures is right and the timestamp is
    within `tolerance` seconds of `now`; `SignatureError` saying why not otherwise."""
    if not header:
        raise SignatureError(f"No {SIGNATURE_HEADER} header.")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit() and timestamp is None:
            timestamp = int(value)
        elif name == SCHEME and value:
            candidates.append(value)
    if timestamp is None:
        raise SignatureError(f"The {SIGNATURE_HEADER} header has no timestamp.")
    if not candidates:
        raise SignatureError(f"The {SIGNATURE_HEADER} header has no {SCHEME} signature.")
    expected = signature(secret, payload, timestamp)
    # Every candidate is compared (constant time each), so timing tells nothing.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("No signature matches the payload.")
    if abs(now - timestamp) > tolerance:
        raise SignatureError("The signature's timestamp is outside the tolerance window.")
    return timestamp


@dataclass(frozen=True)
class StripeEvent:
    """The parts of a Stripe event we act on."""

    id: str
    type: str
    created: datetime
    object: dict[str, Any]


def parse_event(payload: bytes) -> StripeEvent:
    """The event in a verified body, or `MalformedEvent` saying what is wrong with it."""
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as error:
        raise MalformedEvent(f"The body is not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("object") != "event":
        raise MalformedEvent("The body is not a Stripe event object.")
    event_id, kind, created = data.get("id"), data.get("type"), data.get("created")
    if not isinstance(event_id, str) or not event_id or len(event_id) > 255:
        raise MalformedEvent("The event has no `id`.")
    if not isinstance(kind, str) or not kind:
        raise MalformedEvent("The event has no `type`.")
    inner = data.get("data")
    if not isinstance(inner, dict) or not isinstance(inner.get("object"), dict):
        raise MalformedEvent("The event has no `data.object`.")
    return StripeEvent(event_id, kind, timestamp(created, "created"), inner["object"])


def timestamp(value: Any, field: str) -> datetime:
    """A Stripe timestamp (unix seconds) as an aware datetime."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**35:
        raise MalformedEvent(f"`{field}` is not a unix timestamp.")
    return datetime.fromtimestamp(value, UTC)


def optional_timestamp(value: Any, field: str) -> datetime | None:
    return None if value is None else timestamp(value, field)


def text(value: Any, field: str) -> str | None:
    """An optional string field (an id, a status); a nested object's `id` if expanded."""
    if isinstance(value, dict):
        value = value.get("id")
    if value is None or (isinstance(value, str) and value):
        return value
    raise MalformedEvent(f"`{field}` is not a string.")


def member_id(*objects: Any) -> uuid.UUID | None:
    """The member named by the first `metadata.user_id` among these objects (Checkout's
    `client_reference_id` is copied there when the subscription is created)."""
    for obj in objects:
        metadata = obj.get("metadata") if isinstance(obj, dict) else None
        value = metadata.get("user_id") if isinstance(metadata, dict) else None
        if value is None:
            continue
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise MalformedEvent("`metadata.user_id` is not a member id.") from None
    return None


def _items(obj: dict[str, Any], field: str) -> list[dict[str, Any]]:
    container = obj.get(field)
    items = container.get("data") if isinstance(container, dict) else None
    if container is None or items is None:
        return []
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise MalformedEvent(f"`{field}.data` is not a list of objects.")
    return items


@dataclass(frozen=True)
class SubscriptionObject:
    """A `customer.subscription.*` event's subscription."""

    id: str
    customer: str | None
    status: str
    current_period_end: datetime | None
    cancel_at_period_end: bool
    user_id: uuid.UUID | None


def subscription_object(obj: dict[str, Any]) -> SubscriptionObject:
    """The subscription; its period end is the top-level one (API versions before
    2025-03-31) or the latest of its items' (later versions)."""
    subscription_id = text(obj.get("id"), "id")
    status = text(obj.get("status"), "status")
    if subscription_id is None or status is None:
        raise MalformedEvent("The subscription has no `id` or `status`.")
    if status not in STATUSES:
        raise MalformedEvent(f"`status` {status!r} is not a subscription status.")
    period_end = optional_timestamp(obj.get("current_period_end"), "current_period_end")
    for item in _items(obj, "items"):
        item_end = optional_timestamp(item.get("current_period_end"), "current_period_end")
        if item_end is not None and (period_end is None or item_end > period_end):
            period_end = item_end
    cancel = obj.get("cancel_at_period_end", False)
    if not isinstance(cancel, bool):
        raise MalformedEvent("`cancel_at_period_end` is not a boolean.")
    return SubscriptionObject(
        id=subscription_id,
        customer=text(obj.get("customer"), "customer"),
        status=status,
        current_period_end=period_end,
        cancel_at_period_end=cancel,
        user_id=member_id(obj),
    )


@dataclass(frozen=True)
class InvoiceObject:
    """An `invoice.paid` event's invoice: which subscription it paid, up to when."""

    subscription: str | None
    customer: str | None
    period_end: datetime | None
    user_id: uuid.UUID | None


def invoice_object(obj: dict[str, Any]) -> InvoiceObject:
    """The invoice; the period it paid ends at the latest of its lines' `period.end`."""
    period_end = None
    for line in _items(obj, "lines"):
        period = line.get("period")
        end = (
            optional_timestamp(period.get("end"), "period.end")
            if isinstance(period, dict)
            else None
        )
        if end is not None and (period_end is None or end > period_end):
            period_end = end
    details = obj.get("subscription_details")
    parent = obj.get("parent")
    parent_details = parent.get("subscription_details") if isinstance(parent, dict) else None
    subscription = obj.get("subscription")
    if subscription is None and isinstance(parent_details, dict):
        subscription = parent_details.get("subscription")
    return InvoiceObject(
        subscription=text(subscription, "subscription"),
        customer=text(obj.get("customer"), "customer"),
        period_end=period_end,
        user_id=member_id(obj, details, parent_details),
    )


@dataclass(frozen=True)
class ChargeObject:
    """A `charge.refunded` event's charge."""

    customer: str | None
    fully_refunded: bool
    user_id: uuid.UUID | None


def charge_object(obj: dict[str, Any]) -> ChargeObject:
    refunded = obj.get("refunded", False)
    if not isinstance(refunded, bool):
        raise MalformedEvent("`refunded` is not a boolean.")
    return ChargeObject(
        customer=text(obj.get("customer"), "customer"),
        fully_refunded=refunded,
        user_id=member_id(obj),
    )
