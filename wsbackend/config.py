"""Every option of a deployment, declared once: its flag, environment variable, help and check.

``wsbackend serve`` builds its command line from :data:`OPTIONS`; a gunicorn command line or a
mod_wsgi daemon sets the matching ``WSBACKEND_*`` environment variables, read here and nowhere
else; code passes a :class:`Config`. Each option names the field it fills: a field of
:class:`Config` itself, of :class:`~wsbackend.connection.ConnectionSettings` (timeouts and
buffers) or of :class:`~wsbackend.protocol.Limits` (sizes); the field's own default is the
option's default. Adding an option is one :class:`Option` line beside its field.

The configuration in effect in a process is :func:`active`: the one ``wsbackend serve``
installed (gunicorn workers it forks inherit it), else the one the environment describes.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .connection import DEFAULT_SETTINGS, ConnectionSettings
from .protocol.limits import DEFAULT_LIMITS, Limits
from .proxies import DEFAULT_TRUSTED

__all__ = ["ENV_PREFIX", "OPTIONS", "Config", "ConfigError", "Option", "active", "install"]

ENV_PREFIX = "WSBACKEND_"
LOG_LEVELS = ("debug", "info", "warning", "error", "critical")


class ConfigError(ValueError):
    """An option with a value that cannot work; its message names the option."""


@dataclass(frozen=True, slots=True)
class Config:
    """What a deployment asked for: a value for every option of :data:`OPTIONS`.

    Build one in code, or with :meth:`from_environ`; :func:`install` makes it the process's.

    Attributes:
        bind: ``HOST:PORT`` that ``wsbackend serve`` listens on; IPv6 hosts in brackets.
        workers: Worker processes; more than one runs gunicorn with our worker.
        certfile: PEM certificate chain for TLS (wss://), with ``keyfile``.
        keyfile: PEM private key for ``certfile``.
        graceful_timeout: Seconds open connections get to finish on SIGTERM / SIGINT: each
            client is sent a 1001 close frame at once, then the closing handshakes and the
            applications' ``on_close`` have this long before the process exits.
        max_connections: WebSockets one worker serves at once (503 past it); None: what the
            file limit allows, or gunicorn's ``worker_connections`` (see wsbackend.capacity).
        log_level: Level of wsbackend's (and gunicorn's) log.
        trusted_proxies: Proxies whose X-Forwarded-* headers are believed.
        allowed_origins: Page origins accepted besides the site's own.
        flash_policy: Policy file answered to Flash's ``<policy-file-request/>``.
        metrics_path: Where Prometheus metrics are served (None: off); see wsbackend.metrics.
        metrics_allow: Peers that may read the metrics.
        redis_url: The Redis that shares broadcast, groups and presence between workers and
            hosts (None: each worker on its own); see wsbackend.application.hub.
        settings: Timeouts and buffer bounds of every connection.
        limits: Frame, message and request size limits.
    """

    bind: str = "127.0.0.1:8000"
    workers: int = 1
    certfile: str | None = None
    keyfile: str | None = None
    graceful_timeout: float = 10.0
    max_connections: int | None = None
    log_level: str = "info"
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED
    allowed_origins: tuple[str, ...] = ()
    flash_policy: str | None = None
    metrics_path: str | None = None
    metrics_allow: tuple[str, ...] = DEFAULT_TRUSTED
    redis_url: str | None = None
    settings: ConnectionSettings = DEFAULT_SETTINGS
    limits: Limits = DEFAULT_LIMITS

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Config:
        """The configuration the ``WSBACKEND_*`` variables describe; ConfigError names a bad one."""
        environ = os.environ if environ is None else environ
        values = {}
        for option in OPTIONS:
            text = environ.get(option.env)
            if text is not None:
                try:
                    values[option.field] = option.parse(text)
                except ValueError as exc:
                    raise ConfigError(f"{option.env}={text!r}: {exc}") from None
        return cls.build(values)

    @classmethod
    def build(cls, values: Mapping[str, Any], base: Config | None = None) -> Config:
        """``base`` (the defaults) with parsed option values by field name, in their sections."""
        base = base or cls()
        sections: dict[Section, dict[str, Any]] = {section: {} for section in Section}
        for option in OPTIONS:
            if option.field in values:
                sections[option.section][option.field] = values[option.field]
        return dataclasses.replace(
            base,
            **sections[Section.SERVER],
            settings=dataclasses.replace(base.settings, **sections[Section.SETTINGS]),
            limits=dataclasses.replace(base.limits, **sections[Section.LIMITS]),
        )

    def check(self) -> None:
        """The checks that involve several options or the file system; ConfigError if one fails."""
        if bool(self.certfile) != bool(self.keyfile):
            raise ConfigError(f"{_named('certfile')} and {_named('keyfile')} go together")
        if self.certfile and self.keyfile:
            import ssl

            try:
                context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                context.load_cert_chain(self.certfile, self.keyfile)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(f"{_named('certfile')}: cannot load it: {exc}") from None
        if self.flash_policy:
            self.flash_policy_document()
        # Looked for, not imported: it must first be imported after PROMETHEUS_MULTIPROC_DIR is set.
        if self.metrics_path and importlib.util.find_spec("prometheus_client") is None:
            raise ConfigError(
                f"{_named('metrics_path')} needs prometheus-client: pip install "
                "'wsbackend[metrics]'"
            )
        # Looked for, not imported: importing it before gevent patches would warn.
        if self.redis_url and importlib.util.find_spec("redis") is None:
            raise ConfigError(f"{_named('redis_url')} needs redis: pip install 'wsbackend[redis]'")

    def flash_policy_document(self) -> bytes | None:
        """The policy file's content, or None when the Flash responder is off."""
        if not self.flash_policy:
            return None
        try:
            with open(self.flash_policy, "rb") as policy_file:
                return policy_file.read().strip()
        except OSError as exc:
            raise ConfigError(
                f"{_named('flash_policy')}: {exc.strerror}: {self.flash_policy}"
            ) from None


class Section(enum.Enum):
    """Which object an option's field belongs to."""

    SERVER = "server"
    SETTINGS = "settings"
    LIMITS = "limits"


_SECTION_DEFAULTS: dict[Section, object] = {
    Section.SERVER: Config(),
    Section.SETTINGS: DEFAULT_SETTINGS,
    Section.LIMITS: DEFAULT_LIMITS,
}


@dataclass(frozen=True, slots=True)
class Option:
    """One option: ``--field-name`` on the command line, ``WSBACKEND_FIELD_NAME`` outside it.

    Attributes:
        field: The field it sets, in ``section``'s dataclass; that field's default is its own.
        parse: Text to value; raises ValueError with a message that says what is expected.
        help: One line for ``--help``.
        section: The object that holds the field.
        metavar: How ``--help`` names the value.
        name: The flag and variable name when it is not the field's (``"redis"`` gives
            ``--redis`` and ``WSBACKEND_REDIS``).
        aliases: Shorter flags that mean the same (the variable has one name only).
        unset: What ``--help`` gives as the default when the field's is None.
    """

    field: str
    parse: Callable[[str], Any]
    help: str
    section: Section = Section.SERVER
    metavar: str = "N"
    name: str | None = None
    aliases: tuple[str, ...] = ()
    unset: str = "none"

    @property
    def flag(self) -> str:
        return "--" + (self.name or self.field).replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + (self.name or self.field).upper()

    @property
    def default(self) -> Any:
        return getattr(_SECTION_DEFAULTS[self.section], self.field)


def bind_address(text: str) -> str:
    """``HOST:PORT`` with a port from 1 to 65535."""
    host, colon, port = text.rpartition(":")
    if not colon or not host or not port.isdigit():
        raise ValueError("expected HOST:PORT, e.g. 127.0.0.1:8000 or [::1]:8000")
    if not 1 <= int(port) <= 65535:
        raise ValueError(f"port {port} is not between 1 and 65535")
    return text


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise ValueError("expected a whole number") from None
    if value < 1:
        raise ValueError("must be at least 1")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError("expected seconds, e.g. 2.5") from None
    if not 0 < value < float("inf"):
        raise ValueError("must be more than 0 seconds")
    return value


def seconds_or_off(text: str) -> float | None:
    return None if text.strip().lower() == "off" else seconds(text)


def log_level(text: str) -> str:
    if text.lower() not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}")
    return text.lower()


def comma_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def networks(text: str) -> tuple[str, ...]:
    """Addresses or networks, comma-separated; ``*`` for every peer."""
    items = comma_list(text)
    for item in items:
        if item != "*":
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                raise ValueError(f"{item!r} is not an IP address or network") from None
    return items


def origins(text: str) -> tuple[str, ...]:
    items = comma_list(text)
    for item in items:
        if item != "*" and "://" not in item:
            raise ValueError(f"{item!r} is not an origin such as https://app.example.com")
    return items


def path(text: str) -> str:
    return os.path.abspath(text)


def redis_url(text: str) -> str | None:
    if not text:
        return None  # an empty WSBACKEND_REDIS_URL: no hub, as when it is unset
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("expected a URL such as redis://127.0.0.1:6379/0")
    return text


def url_path(text: str) -> str:
    if not text.startswith("/") or "?" in text:
        raise ValueError("expected a path such as /metrics")
    return text


SETTINGS, LIMITS = Section.SETTINGS, Section.LIMITS

OPTIONS: tuple[Option, ...] = (
    Option("bind", bind_address, "HOST:PORT to listen on", metavar="HOST:PORT"),
    Option("workers", positive_int, "worker processes; more than 1 runs gunicorn"),
    Option("certfile", path, "TLS certificate chain (PEM) for wss://", metavar="FILE"),
    Option("keyfile", path, "TLS private key (PEM) of --certfile", metavar="FILE"),
    Option("graceful_timeout", seconds, "seconds open connections get on SIGTERM", metavar="S"),
    Option(
        "max_connections",
        positive_int,
        "WebSockets per worker, 503 past it",
        unset="as many as the file limit allows",
    ),
    Option("log_level", log_level, "/".join(LOG_LEVELS), metavar="LEVEL"),
    Option(
        "trusted_proxies",
        networks,
        "comma-separated proxy addresses or networks whose X-Forwarded-* headers are believed",
        metavar="ADDRS",
    ),
    Option(
        "allowed_origins",
        origins,
        "comma-separated page origins accepted besides the site's own (* for any)",
        metavar="ORIGINS",
    ),
    Option("flash_policy", path, "answer Flash <policy-file-request/> with FILE", metavar="FILE"),
    Option("metrics_path", url_path, "serve Prometheus metrics at PATH", metavar="PATH"),
    Option(
        "metrics_allow",
        networks,
        "comma-separated addresses or networks that may read the metrics (never via a proxy)",
        metavar="ADDRS",
    ),
    Option(
        "redis_url",
        redis_url,
        "share broadcast, groups and presence between workers and hosts through this Redis",
        metavar="URL",
        aliases=("--redis",),
    ),
    Option(
        "ping_interval",
        seconds_or_off,
        "seconds of silence before a keepalive ping (off: none)",
        SETTINGS,
        "S",
    ),
    Option("ping_timeout", seconds, "seconds a pinged peer has to answer", SETTINGS, "S"),
    Option("close_timeout", seconds, "seconds to wait for the closing handshake", SETTINGS, "S"),
    Option("handshake_timeout", seconds, "seconds a client has to send its request", SETTINGS, "S"),
    Option("send_timeout", seconds, "seconds one blocked write may take", SETTINGS, "S"),
    Option("max_send_buffer", positive_int, "bytes queued per client", SETTINGS, "BYTES"),
    Option(
        "slow_reader_grace",
        seconds,
        "seconds a client's queue may stay over --max-send-buffer (1008 after)",
        SETTINGS,
        "S",
    ),
    Option(
        "max_send_burst",
        positive_int,
        "bytes queued per client, cut off past it",
        SETTINGS,
        "BYTES",
    ),
    Option("turn_messages", positive_int, "messages per turn before others run", SETTINGS),
    Option("turn_bytes", positive_int, "bytes read per turn before others run", SETTINGS, "BYTES"),
    Option("turn_frames", positive_int, "frames decoded per turn before others run", SETTINGS),
    Option("max_message_size", positive_int, "largest message (1009 past it)", LIMITS, "BYTES"),
    Option("max_frame_size", positive_int, "largest frame payload", LIMITS, "BYTES"),
)
"""Every option, in ``--help`` order."""

_active: Config | None = None


def _named(field: str) -> str:
    """How an error names an option: its flag and its variable."""
    option = next(option for option in OPTIONS if option.field == field)
    return f"{option.flag} ({option.env})"


def install(config: Config) -> None:
    """Make ``config`` the one :func:`active` returns in this process and the workers it forks."""
    global _active
    _active = config


def active() -> Config:
    """The installed configuration, else the environment's (read once)."""
    global _active
    if _active is None:
        _active = Config.from_environ()
    return _active
