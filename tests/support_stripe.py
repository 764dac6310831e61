"""A local stand-in for Stripe's webhook sender: builds Stripe-shaped events, signs them as
Stripe does (`Stripe-Signature: t=…,v1=HMAC-SHA256(secret, "t.body")`), sends them,
replays them byte for byte, and forges them (wrong secret, tampered body, old timestamp,
no header). It signs with its own code, not the subgraph's, so a mistake in one is not
hidden by the same mistake in the other."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

WEBHOOK_PATH = "/webhooks/stripe"


def stripe_signature(secret: str, body: bytes, timestamp: int) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def _new_customer() -> str:
    """A customer of its own, so that an event finds nobody by a shared customer id."""
    return f"cus_{uuid.uuid4().hex[:14]}"


def event(kind: str, obj: dict[str, Any], *, created: int | None = None) -> dict[str, Any]:
    """A Stripe event envelope around `obj` (`created` defaults to now)."""
    return {
        "id": f"evt_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()) if created is None else created,
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
        "data": {"object": obj},
    }


def subscription_event(
    kind: str,
    *,
    user_id: str | None,
    subscription_id: str,
    customer: str | None = None,
    status: str = "active",
    period_end: int | None = None,
    cancel_at_period_end: bool = False,
    created: int | None = None,
) -> dict[str, Any]:
    """`customer.subscription.created|updated|deleted` for one premium subscription."""
    now = int(time.time())
    end = period_end if period_end is not None else now + 30 * 86400
    obj = {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer or _new_customer(),
        "status": status,
        "current_period_start": end - 30 * 86400,
        "current_period_end": end,
        "cancel_at_period_end": cancel_at_period_end,
        "items": {
            "object": "list",
            "data": [
                {
                    "id": f"si_{uuid.uuid4().hex[:14]}",
                    "object": "subscription_item",
                    "price": {"id": "price_premium", "lookup_key": "premium"},
                    "quantity": 1,
                }
            ],
        },
        "metadata": {"user_id": user_id} if user_id else {},
    }
    return event(f"customer.subscription.{kind}", obj, created=created)


def invoice_paid(
    *,
    subscription_id: str,
    period_end: int,
    customer: str | None = None,
    user_id: str | None = None,
    created: int | None = None,
) -> dict[str, Any]:
    """`invoice.paid` for one period of the subscription."""
    obj = {
        "id": f"in_{uuid.uuid4().hex[:14]}",
        "object": "invoice",
        "customer": customer or _new_customer(),
        "subscription": subscription_id,
        "status": "paid",
        "paid": True,
        "lines": {
            "object": "list",
            "data": [{"period": {"start": period_end - 30 * 86400, "end": period_end}}],
        },
        "subscription_details": {"metadata": {"user_id": user_id} if user_id else {}},
        "metadata": {},
    }
    return event("invoice.paid", obj, created=created)


def charge_refunded(
    *,
    customer: str | None = None,
    user_id: str | None = None,
    refunded: bool = True,
    created: int | None = None,
) -> dict[str, Any]:
    """`charge.refunded` for the member's last payment (in full unless `refunded` is False)."""
    obj = {
        "id": f"ch_{uuid.uuid4().hex[:14]}",
        "object": "charge",
        "customer": customer or _new_customer(),
        "amount": 999,
        "amount_refunded": 999 if refunded else 100,
        "refunded": refunded,
        "metadata": {"user_id": user_id} if user_id else {},
    }
    return event("charge.refunded", obj, created=created)


@dataclass
class Delivery:
    """One POST as sent: the exact bytes and signature header, and what came back."""

    body: bytes
    headers: dict[str, str]
    response: httpx.Response


@dataclass
class StripeStub:
    """Sends signed events to a webhook endpoint reachable through `client`."""

    client: httpx.AsyncClient
    secret: str
    path: str = WEBHOOK_PATH
    sent: list[Delivery] = field(default_factory=list)

    @staticmethod
    def encode(payload: dict[str, Any]) -> bytes:
        # Stripe pretty-prints its bodies; the signature covers these exact bytes.
        return json.dumps(payload, indent=2).encode()

    def header(
        self, body: bytes, *, secret: str | None = None, timestamp: int | None = None
    ) -> str:
        t = int(time.time()) if timestamp is None else timestamp
        return f"t={t},v1={stripe_signature(secret or self.secret, body, t)}"

    async def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        response = await self.client.post(
            self.path, content=body, headers={"content-type": "application/json", **headers}
        )
        self.sent.append(Delivery(body, headers, response))
        return response

    async def send(self, payload: dict[str, Any]) -> httpx.Response:
        """Delivers `payload` as Stripe does: signed now (a retry is signed anew)."""
        body = self.encode(payload)
        return await self.post(body, {"Stripe-Signature": self.header(body)})

    async def replay(self, delivery: Delivery | None = None) -> httpx.Response:
        """Sends a delivery again byte for byte, signature and all (the last one by default)."""
        original = delivery or self.sent[-1]
        return await self.post(original.body, original.headers)

    # -- forgeries ----------------------------------------------------------------------

    async def send_signed_with(self, payload: dict[str, Any], secret: str) -> httpx.Response:
        body = self.encode(payload)
        return await self.post(body, {"Stripe-Signature": self.header(body, secret=secret)})

    async def send_tampered(self, payload: dict[str, Any], **changes: Any) -> httpx.Response:
        """Signs `payload`, then changes its object (say a status or a member) before sending."""
        header = self.header(self.encode(payload))
        tampered = json.loads(json.dumps(payload))
        tampered["data"]["object"].update(changes)
        return await self.post(self.encode(tampered), {"Stripe-Signature": header})

    async def send_signed_at(self, payload: dict[str, Any], timestamp: int) -> httpx.Response:
        """Correctly signed, but with this timestamp (an old capture, or a future one)."""
        body = self.encode(payload)
        return await self.post(body, {"Stripe-Signature": self.header(body, timestamp=timestamp)})

    async def send_with_header(self, payload: dict[str, Any], header: str | None) -> httpx.Response:
        """With this `Stripe-Signature` value verbatim (None: no header at all)."""
        return await self.post(
            self.encode(payload), {} if header is None else {"Stripe-Signature": header}
        )
