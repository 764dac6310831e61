"""Rate limits shared by every replica of a subgraph: a sliding-window log in Redis.

A `RateLimit` names a rule: at most `limit` counted hits per `window_seconds` for one key
(an account, a client address, a member). `RateLimiter.hit(rule, key)` counts a hit or,
if the key already has `limit` hits in the last `window_seconds`, raises
`kindred.errors.RateLimited` with `retry_after`: the whole seconds (at least 1) until the
oldest hit that keeps the key at its limit leaves the window. A refused hit is not
counted, so a client that keeps hammering is let in again once its window has passed.

Algorithm: a sliding-window log. Each key is one Redis sorted set of hit ids scored by
the time of the hit (Redis's own clock, `TIME`, so replicas with skewed clocks agree).
One Lua script per call drops the hits older than the window, counts the rest, and adds
the new hit if there is room: check and count are one atomic step, so N concurrent hits
against a limit of L let exactly L through, on one replica or many. Every key expires
one window after its latest hit, so nothing outlives its use. The log is exact (no
boundary bursts of fixed windows) and costs at most `limit` entries per key, which suits
the small limits this is for (sign-in attempts, reports); a limit of many thousands per
window would want GCRA instead.

Keys are `<namespace>:ratelimit:<rule name>:<sha256 of the key>`: the namespace is the
subgraph (every replica of it shares the counts; other subgraphs never collide), and the
hash keeps emails and addresses out of Redis.

Counting failures only (say, wrong passwords): `hit()` before the attempt and, when the
attempt succeeds, `undo()` that hit (or `reset()` the key). Counting after a failure
instead (`check()`, attempt, then count) would let every concurrent guess through the
check; reserving first bounds them. `check()` alone asks without counting.

When Redis cannot be reached the limiter neither fails open nor closed: it falls back to
the same algorithm in process memory (bounded: least recently used keys are dropped
beyond `local_max_keys`), with a logged warning, and tries Redis again every
`retry_after` seconds. During an outage a limit therefore holds per replica instead of
per subgraph (at most `limit` x replicas), which still stops brute force, while a cache
outage locks nobody out. Failing closed would turn a Redis outage into a sign-in outage;
failing open would turn it into an unlimited guessing window.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import time
import uuid
from collections import OrderedDict, deque
from dataclasses import dataclass

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from kindred.errors import RateLimited

log = logging.getLogger(__name__)

# KEYS[1]: the key's log. ARGV: window in ms, limit, "1" to count the hit, the hit's id.
# Returns {allowed (1 or 0), ms until the key is under its limit again (when refused)}.
_SCRIPT = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local blocking = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
  return {0, tonumber(blocking[2]) + window - now}
end
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now, ARGV[4])
  redis.call('PEXPIRE', KEYS[1], window)
end
return {1, 0}
"""


def _wait(seconds: int) -> str:
    """A wait as people say it: `42 s`, `5 min`, `2 h`."""
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} min"
    return f"{math.ceil(seconds / 3600)} h"


@dataclass(frozen=True)
class RateLimit:
    """At most `limit` counted hits per `window_seconds` for one key; `limit` 0 turns it off.

    `message` is what the client reads when refused: `{wait}` becomes `42 s` or `5 min`,
    `{retry_after}` the number of seconds."""

    name: str
    limit: int
    window_seconds: float
    message: str = "Too many attempts; try again in {wait}."

    def __post_init__(self) -> None:
        if not self.name or ":" in self.name:
            raise ValueError(f"a rate limit needs a name without ':' (got {self.name!r})")
        if self.limit < 0 or self.window_seconds <= 0:
            raise ValueError(f"rate limit {self.name!r}: limit >= 0 and window > 0, please")

    @property
    def enabled(self) -> bool:
        return self.limit > 0

    @property
    def window_ms(self) -> int:
        return max(1, round(self.window_seconds * 1000))

    def refusal(self, retry_after_ms: float) -> RateLimited:
        retry_after = max(1, math.ceil(retry_after_ms / 1000))
        message = self.message.format(wait=_wait(retry_after), retry_after=retry_after)
        return RateLimited(message, retry_after=retry_after)


@dataclass(frozen=True)
class Hit:
    """One counted hit, which `RateLimiter.undo` can take back."""

    rule: RateLimit
    key: str
    id: str
    local: bool  # counted by the in-process fallback, not in Redis


class _LocalLog:
    """The same sliding-window log in process memory, for while Redis is unreachable."""

    def __init__(self, max_keys: int) -> None:
        self._max_keys = max_keys
        self._logs: OrderedDict[str, deque[tuple[float, str]]] = OrderedDict()

    def apply(self, key: str, rule: RateLimit, hit_id: str | None) -> float | None:
        """Counts `hit_id` if there is room (None: allowed); else ms until there is."""
        now = time.monotonic() * 1000
        entries = self._logs.setdefault(key, deque())
        self._logs.move_to_end(key)
        while entries and entries[0][0] <= now - rule.window_ms:
            entries.popleft()
        if len(entries) >= rule.limit:
            return entries[len(entries) - rule.limit][0] + rule.window_ms - now
        if hit_id is not None:
            entries.append((now, hit_id))
        if not entries:
            del self._logs[key]
        while len(self._logs) > self._max_keys:
            self._logs.popitem(last=False)
        return None

    def remove(self, key: str, hit_id: str) -> None:
        entries = self._logs.get(key)
        if entries is not None:
            for entry in entries:
                if entry[1] == hit_id:
                    entries.remove(entry)
                    break

    def forget(self, key: str) -> None:
        self._logs.pop(key, None)

    def __len__(self) -> int:
        return len(self._logs)


class RateLimiter:
    """Counts hits per rule and key in Redis under `namespace` (a subgraph's name)."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str,
        retry_after: float = 2.0,
        local_max_keys: int = 100_000,
    ) -> None:
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=0.25,
            socket_connect_timeout=0.25,
            health_check_interval=0,
            # One quick retry (a pooled connection gone stale), then the fallback.
            retry=Retry(NoBackoff(), 1),
        )
        self._script = self._redis.register_script(_SCRIPT)
        self._namespace = namespace
        self._retry_after = retry_after
        self._down_until = 0.0
        self._down = False
        self._local = _LocalLog(local_max_keys)

    def _key(self, rule: RateLimit, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"{self._namespace}:ratelimit:{rule.name}:{digest}"

    @property
    def available(self) -> bool:
        """False while Redis is deemed unreachable (the in-process fallback counts)."""
        return time.monotonic() >= self._down_until

    def _mark_down(self, error: Exception) -> None:
        if not self._down:
            log.warning(
                "ratelimit: Redis unreachable (%r); limiting in process memory, per replica, "
                "until it answers",
                error,
            )
        self._down = True
        self._down_until = time.monotonic() + self._retry_after

    def _mark_up(self) -> None:
        if self._down:
            log.info("ratelimit: Redis answers again; limits are shared again")
            self._down = False

    async def _apply(self, rule: RateLimit, key: str, hit_id: str | None) -> Hit | None:
        full_key = self._key(rule, key)
        if self.available:
            try:
                count = "1" if hit_id is not None else "0"
                allowed, wait_ms = await self._script(
                    keys=[full_key], args=[rule.window_ms, rule.limit, count, hit_id or ""]
                )
            except (RedisError, OSError) as error:
                self._mark_down(error)
            else:
                self._mark_up()
                if not int(allowed):
                    raise rule.refusal(float(wait_ms))
                return Hit(rule, key, hit_id, local=False) if hit_id is not None else None
        wait = self._local.apply(full_key, rule, hit_id)
        if wait is not None:
            raise rule.refusal(wait)
        return Hit(rule, key, hit_id, local=True) if hit_id is not None else None

    async def hit(self, rule: RateLimit, key: str) -> Hit | None:
        """Counts one hit for `key`, or raises `RateLimited` (counting nothing) if it is at
        its limit. Returns the hit, for `undo` (None if the rule is off)."""
        if not rule.enabled:
            return None
        return await self._apply(rule, key, uuid.uuid4().hex)

    async def check(self, rule: RateLimit, key: str) -> None:
        """Raises `RateLimited` if `key` is at its limit; counts nothing."""
        if rule.enabled:
            await self._apply(rule, key, None)

    async def undo(self, hit: Hit | None) -> None:
        """Takes back a hit (say, an attempt that succeeded, when only failures count)."""
        if hit is None:
            return
        full_key = self._key(hit.rule, hit.key)
        if hit.local:
            self._local.remove(full_key, hit.id)
            return
        try:
            await self._redis.zrem(full_key, hit.id)
        except (RedisError, OSError) as error:
            self._mark_down(error)

    async def reset(self, rule: RateLimit, key: str) -> None:
        """Forgets every hit of `key` under `rule` (say, after a successful sign-in)."""
        if not rule.enabled:
            return
        full_key = self._key(rule, key)
        self._local.forget(full_key)
        if self.available:
            try:
                await self._redis.delete(full_key)
            except (RedisError, OSError) as error:
                self._mark_down(error)

    async def close(self) -> None:
        await self._redis.aclose()


def address_key(address: str | None) -> str:
    """The key an address is limited under: an IPv4 address itself, an IPv6 address's /64
    (one subscriber usually holds a whole /64), anything else as given."""
    if not address:
        return "unknown"
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((int(ip), 64), strict=False))
    return str(ip)
