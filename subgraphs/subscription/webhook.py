"""POST /webhooks/stripe: the payment provider's events, verified, applied once each.

Answers 200 for every event it accepted (applied, unchanged, stale, ignored or a
duplicate), so the provider stops sending it; 400 with `{"error": …}` for a delivery that
is not signed with our secret, is too old, or is not an event, so nothing changes. The
provider retries anything but a 2xx, so bad input never answers 5xx.
"""

from __future__ import annotations

import logging
import time

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from kindred.platform import Platform
from subgraphs.subscription import service, stripe

log = logging.getLogger(__name__)

PATH = "/webhooks/stripe"


def _refuse(reason: str) -> Response:
    return JSONResponse({"error": reason}, status_code=400)


async def stripe_webhook(request: Request) -> Response:
    """Verifies, then applies one Stripe event in one transaction with its idempotency record."""
    platform: Platform = request.app.state.platform
    settings = platform.settings
    payload = await request.body()
    try:
        stripe.verify(
            request.headers.get(stripe.SIGNATURE_HEADER),
            payload,
            secret=settings.stripe_webhook_secret,
            tolerance=settings.stripe_webhook_tolerance_seconds,
            now=time.time(),
        )
        event = stripe.parse_event(payload)
    except stripe.SignatureError as error:
        log.warning("stripe webhook refused: %s", error)
        return _refuse(str(error))
    except stripe.MalformedEvent as error:
        return _refuse(str(error))
    try:
        async with platform.db.unit_of_work() as uow:
            outcome = await service.apply_provider_event(uow, event=event)
            await uow.commit()
    except stripe.MalformedEvent as error:  # raised before anything was written
        return _refuse(str(error))
    log.info("stripe event %s (%s): %s", event.id, event.type, outcome.value)
    return JSONResponse({"received": True, "id": event.id, "outcome": outcome.value})
