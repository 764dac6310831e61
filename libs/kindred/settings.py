"""Settings read from environment variables, with the embedded defaults of `make dev`."""

from __future__ import annotations

import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

# Ports fixed by the architecture; a subgraph's port is also in supergraph.yaml.
SUBGRAPH_PORTS: dict[str, int] = {
    "user": 3001,
    "queuing": 3002,
    "interaction": 3003,
    "history": 3004,
    "communication": 3005,
    "notification": 3006,
    "moderation": 3007,
    "analytics": 3008,
    "admin": 3009,
    "subscription": 3010,
}
GATEWAY_PORT = 4000

# Known to everyone who reads this file: fit for `make dev` only (compose.yaml requires a real one).
DEV_STRIPE_WEBHOOK_SECRET = "whsec_kindred_dev_only"

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# The dev stack's trace store (kindred.devstack.traces), which `kindred trace` reads.
DEFAULT_TRACE_STORE_URL = "http://127.0.0.1:4318"


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return value if value else default


def _env_flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _env_networks(name: str, default: str) -> tuple[IPNetwork, ...]:
    """Comma-separated CIDRs (a bare address is its own /32 or /128); `none` for none."""
    value = _env(name, default)
    if value.strip().lower() == "none":
        return ()
    networks = []
    for item in value.split(","):
        if item.strip():
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError as error:
                raise ValueError(f"{name}: {item.strip()!r} is not a CIDR ({error})") from None
    return tuple(networks)


@dataclass(frozen=True)
class Settings:
    """Everything one subgraph process needs to know about its surroundings."""

    subgraph: str
    database_url: str
    redis_url: str
    kafka_bootstrap: str
    jwks_url: str
    user_graphql_url: str
    data_dir: Path
    migrate_on_start: bool
    # Freeze the heap once started (kindred.heap): on in a server process, off where one
    # process starts app after app (the contract tests).
    settle_heap_on_start: bool
    cache_ttl_seconds: int
    access_token_ttl_seconds: int
    refresh_token_ttl_seconds: int
    jwt_issuer: str
    jwt_private_key_path: Path
    # Create the signing key when it is missing (`make dev`); off where it comes from a
    # Secret, so a replica without it fails instead of signing with a key of its own.
    jwt_create_key: bool
    # A PEM file of public keys published in the JWKS besides the signing key's (rotation).
    jwt_published_keys_path: Path | None
    # Staff tokens: the admin subgraph signs them (its key), every subgraph verifies them.
    staff_jwt_issuer: str
    staff_jwks_url: str
    staff_jwt_private_key_path: Path
    # Also the event latency on the embedded broker, which does not answer a waiting fetch
    # early; shorter waits cost idle CPU in every consumer and in the broker.
    consumer_fetch_max_wait_ms: int
    # The same once no event came for a few seconds: the first event after a quiet spell
    # waits up to this long, and a quiet stack spends less than half the CPU.
    consumer_quiet_fetch_max_wait_ms: int
    # How long the group waits for a silent member before handing its partitions to the
    # others (a member with a stable instance id does not leave the group when it stops).
    consumer_session_timeout_ms: int
    instance_id: str
    db_pool_size: int
    db_max_overflow: int
    match_interval_seconds: float
    saga_step_timeout_seconds: float
    saga_max_attempts: int
    # How long a pass keeps two members apart in matching (interaction).
    pass_exclusion_seconds: float
    push_provider: str
    fcm_project_id: str
    fcm_credentials_path: Path | None
    fcm_endpoint: str
    fcm_token_url: str
    # Peers whose `X-Forwarded-For` is believed (the gateway): see RequestContext.client_address.
    trusted_proxies: tuple[IPNetwork, ...]
    # Sign-in limits (login and refreshToken; 0 turns one off): failed attempts per account
    # per window, and attempts per client address per window.
    login_account_failures: int
    login_account_window_seconds: float
    login_address_attempts: int
    login_address_window_seconds: float
    # Reports a member may file per window (moderation; 0 turns the limit off).
    report_limit: int
    report_window_seconds: float
    # Terms moderation screens messages and bios for, comma-separated; None: its defaults.
    screening_terms: str | None
    # The matcher caps a member's maximum distance at this unless they hold WIDER_DISTANCE.
    free_max_distance_km: int
    # The payment provider's webhook (Stripe's scheme): the signing secret, and how far a
    # signature's timestamp may be from now (older deliveries are refused as replays).
    stripe_webhook_secret: str
    stripe_webhook_tolerance_seconds: int
    # The admin subgraph: staff tokens are short-lived (a disabled account's token outlives
    # it by at most this), staff sessions last a working day; the owners staff actions call;
    # the admin created at start when the account is missing (`make dev` only: unset, none).
    staff_access_token_ttl_seconds: int
    staff_refresh_token_ttl_seconds: int
    moderation_graphql_url: str
    subscription_graphql_url: str
    staff_seed_email: str | None
    staff_seed_password: str | None

    @property
    def database_name(self) -> str:
        return f"{self.subgraph}_db"


def load_settings(subgraph: str, *, port: int | None = None) -> Settings:
    """Reads the settings of `subgraph` from the environment (`KINDRED_*`); `port` is
    where it listens when several subgraphs share a process (else `KINDRED_PORT`)."""
    data_dir = Path(_env("KINDRED_DATA_DIR", ".data")).resolve()
    server_url = _env("KINDRED_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
    database_url = _env(f"KINDRED_{subgraph.upper()}_DATABASE_URL", f"{server_url}/{subgraph}_db")
    if port is None:
        port = int(_env("KINDRED_PORT", str(SUBGRAPH_PORTS.get(subgraph, 3000))))
    return Settings(
        subgraph=subgraph,
        database_url=database_url,
        redis_url=_env("KINDRED_REDIS_URL", "redis://127.0.0.1:6379/0"),
        kafka_bootstrap=_env("KINDRED_KAFKA_BOOTSTRAP", "127.0.0.1:9092"),
        jwks_url=_env("KINDRED_JWKS_URL", "http://127.0.0.1:3001/.well-known/jwks.json"),
        user_graphql_url=_env("KINDRED_USER_GRAPHQL_URL", "http://127.0.0.1:3001/graphql"),
        data_dir=data_dir,
        migrate_on_start=_env_flag("KINDRED_MIGRATE_ON_START", True),
        settle_heap_on_start=_env_flag("KINDRED_SETTLE_HEAP", True),
        cache_ttl_seconds=int(_env("KINDRED_CACHE_TTL_SECONDS", "300")),
        access_token_ttl_seconds=int(_env("KINDRED_ACCESS_TOKEN_TTL_SECONDS", "900")),
        refresh_token_ttl_seconds=int(_env("KINDRED_REFRESH_TOKEN_TTL_SECONDS", str(30 * 86400))),
        jwt_issuer=_env("KINDRED_JWT_ISSUER", "kindred-user"),
        jwt_private_key_path=Path(
            _env("KINDRED_JWT_PRIVATE_KEY_PATH", str(data_dir / "keys" / "jwt-signing.pem"))
        ),
        jwt_create_key=_env_flag("KINDRED_JWT_CREATE_KEY", True),
        jwt_published_keys_path=(
            Path(os.environ["KINDRED_JWT_PUBLISHED_KEYS_PATH"])
            if os.environ.get("KINDRED_JWT_PUBLISHED_KEYS_PATH")
            else None
        ),
        staff_jwt_issuer=_env("KINDRED_STAFF_JWT_ISSUER", "kindred-admin"),
        staff_jwks_url=_env(
            "KINDRED_STAFF_JWKS_URL", "http://127.0.0.1:3009/.well-known/jwks.json"
        ),
        staff_jwt_private_key_path=Path(
            _env("KINDRED_STAFF_JWT_PRIVATE_KEY_PATH", str(data_dir / "keys" / "staff-signing.pem"))
        ),
        consumer_fetch_max_wait_ms=int(_env("KINDRED_CONSUMER_FETCH_MAX_WAIT_MS", "50")),
        consumer_quiet_fetch_max_wait_ms=int(
            _env("KINDRED_CONSUMER_QUIET_FETCH_MAX_WAIT_MS", "250")
        ),
        consumer_session_timeout_ms=int(_env("KINDRED_CONSUMER_SESSION_TIMEOUT_MS", "30000")),
        # Connections kept open. Requests beyond it wait for one: overflow connections
        # would be opened and closed per request under load.
        db_pool_size=int(_env("KINDRED_DB_POOL_SIZE", "20")),
        db_max_overflow=int(_env("KINDRED_DB_MAX_OVERFLOW", "0")),
        match_interval_seconds=float(_env("KINDRED_MATCH_INTERVAL_SECONDS", "5")),
        # A match saga re-sends a step that got no answer within this, then gives up.
        saga_step_timeout_seconds=float(_env("KINDRED_SAGA_STEP_TIMEOUT_SECONDS", "10")),
        saga_max_attempts=int(_env("KINDRED_SAGA_MAX_ATTEMPTS", "5")),
        pass_exclusion_seconds=float(_env("KINDRED_PASS_EXCLUSION_SECONDS", str(30 * 86400))),
        # `log` (the dev default) writes pushes to the log; `fcm` sends them through
        # Firebase Cloud Messaging's HTTP v1 API with a service account's credentials.
        push_provider=_env("KINDRED_PUSH_PROVIDER", "log"),
        fcm_project_id=_env("KINDRED_FCM_PROJECT_ID", ""),
        fcm_credentials_path=(
            Path(os.environ["KINDRED_FCM_CREDENTIALS"])
            if os.environ.get("KINDRED_FCM_CREDENTIALS")
            else None
        ),
        fcm_endpoint=_env("KINDRED_FCM_ENDPOINT", "https://fcm.googleapis.com"),
        fcm_token_url=_env("KINDRED_FCM_TOKEN_URL", "https://oauth2.googleapis.com/token"),
        trusted_proxies=_env_networks("KINDRED_TRUSTED_PROXIES", "127.0.0.0/8,::1"),
        login_account_failures=int(_env("KINDRED_LOGIN_ACCOUNT_FAILURES", "5")),
        login_account_window_seconds=float(_env("KINDRED_LOGIN_ACCOUNT_WINDOW_SECONDS", "300")),
        login_address_attempts=int(_env("KINDRED_LOGIN_ADDRESS_ATTEMPTS", "20")),
        login_address_window_seconds=float(_env("KINDRED_LOGIN_ADDRESS_WINDOW_SECONDS", "60")),
        report_limit=int(_env("KINDRED_REPORT_LIMIT", "10")),
        report_window_seconds=float(_env("KINDRED_REPORT_WINDOW_SECONDS", "3600")),
        screening_terms=os.environ.get("KINDRED_SCREENING_TERMS") or None,
        free_max_distance_km=int(_env("KINDRED_FREE_MAX_DISTANCE_KM", "100")),
        # The dev default lets `make dev` and the tests sign events; production sets its own.
        stripe_webhook_secret=_env("KINDRED_STRIPE_WEBHOOK_SECRET", DEV_STRIPE_WEBHOOK_SECRET),
        stripe_webhook_tolerance_seconds=int(
            _env("KINDRED_STRIPE_WEBHOOK_TOLERANCE_SECONDS", "300")
        ),
        staff_access_token_ttl_seconds=int(_env("KINDRED_STAFF_ACCESS_TOKEN_TTL_SECONDS", "300")),
        staff_refresh_token_ttl_seconds=int(
            _env("KINDRED_STAFF_REFRESH_TOKEN_TTL_SECONDS", str(12 * 3600))
        ),
        moderation_graphql_url=_env(
            "KINDRED_MODERATION_GRAPHQL_URL", "http://127.0.0.1:3007/graphql"
        ),
        subscription_graphql_url=_env(
            "KINDRED_SUBSCRIPTION_GRAPHQL_URL", "http://127.0.0.1:3010/graphql"
        ),
        staff_seed_email=os.environ.get("KINDRED_STAFF_SEED_EMAIL") or None,
        staff_seed_password=os.environ.get("KINDRED_STAFF_SEED_PASSWORD") or None,
        # A stable consumer-group member id: a restarted process rejoins at once.
        instance_id=_env("KINDRED_INSTANCE_ID", f"{subgraph}-{socket.gethostname()}-{port}"),
    )


def trace_store_url() -> str:
    """Where `kindred trace` reads traces (`KINDRED_TRACE_STORE_URL`)."""
    return _env("KINDRED_TRACE_STORE_URL", DEFAULT_TRACE_STORE_URL)
