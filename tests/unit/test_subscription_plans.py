"""What a member has at a moment: the paid plan while its period runs, in an entitled
status, unless a refund voided that period; and Stripe's signature check."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import pytest

from subgraphs.subscription import stripe
from subgraphs.subscription.plans import Plan, standing

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = NOW + timedelta(days=20)


def at(now: datetime = NOW, **row: object) -> tuple[str, tuple[str, ...], datetime | None]:
    values: dict[str, object] = {
        "plan": "PREMIUM",
        "status": "active",
        "current_period_end": LATER,
        "refunded_period_end": None,
        **row,
    }
    found = standing(now=now, **values)  # type: ignore[arg-type]
    return found.plan.value, found.entitlements, found.entitled_until


def test_a_running_paid_period_grants_premium_until_its_end() -> None:
    assert at() == ("PREMIUM", ("SEE_WHO_LIKED_YOU", "WIDER_DISTANCE"), LATER)
    assert at(status="trialing")[0] == "PREMIUM"
    assert at(status="past_due")[0] == "PREMIUM"  # the provider still retries the payment


def test_premium_ends_by_itself_when_the_period_ends() -> None:
    assert at(LATER - timedelta(seconds=1))[0] == "PREMIUM"
    assert at(LATER) == ("FREE", (), None)


@pytest.mark.parametrize("status", ["canceled", "unpaid", "incomplete", "paused", "none"])
def test_other_statuses_grant_nothing(status: str) -> None:
    assert at(status=status) == ("FREE", (), None)


def test_a_refund_voids_the_period_it_paid_and_no_later_one() -> None:
    assert at(refunded_period_end=LATER) == ("FREE", (), None)
    renewed = LATER + timedelta(days=30)
    assert at(current_period_end=renewed, refunded_period_end=LATER)[0] == "PREMIUM"


def test_the_free_plan_grants_nothing() -> None:
    assert at(plan=Plan.FREE.value) == ("FREE", (), None)


def _header(secret: str, body: bytes, t: int) -> str:
    return (
        f"t={t},v1="
        + hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    )


def test_a_signature_holds_only_for_its_secret_body_and_time() -> None:
    body, t = b'{"id": "evt_1"}', 1_700_000_000
    header = _header("whsec_a", body, t)
    assert stripe.verify(header, body, secret="whsec_a", tolerance=300, now=t + 300) == t
    for args in (
        (header, body, "whsec_b", t),
        (header, body + b" ", "whsec_a", t),
        (header, body, "whsec_a", t + 301),
        (header, body, "whsec_a", t - 301),
        (None, body, "whsec_a", t),
        ("t=1,v1=", body, "whsec_a", t),
    ):
        with pytest.raises(stripe.SignatureError):
            stripe.verify(args[0], args[1], secret=args[2], tolerance=300, now=args[3])
