"""Storage URLs: which kind of store a URL names, the options sweepkit itself reads from it, and a form safe to print.

Standard library only (SQLAlchemy loads in `check`, for a SQL URL): the spec masks a URL's password with
`redact` without loading the store, which loads Optuna; `sweepkit.store` builds its storages on `parse`.

sweepkit's own options (`retry`, and `prefix` for Redis) ride in the URL's query so one `--storage` value says
everything about a store; they are taken out before the URL reaches SQLAlchemy or redis-py, which would pass
unknown query keys on to the database driver and fail.
"""

from __future__ import annotations

import importlib.util
import os
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from sweepkit.errors import UsageError

RETRY_ENV = "SWEEPKIT_STORE_RETRY_SECONDS"
DEFAULT_RETRY_SECONDS = 60.0
OWN_OPTIONS = ("retry", "prefix")

EXAMPLES = (
    "sqlite:///sweeps.db, postgresql://user@host/db, mysql://user@host/db, redis://host:6379/0 "
    "or journal:path/to/file.journal"
)

# The extra that installs each driver sweepkit knows of, by the module the driver is imported as.
DRIVER_HINTS = {
    "psycopg": "psycopg (pip install 'sweepkit[postgres]')",
    "psycopg2": "psycopg2, or use postgresql+psycopg:// with psycopg (pip install 'sweepkit[postgres]')",
    "pymysql": "PyMySQL (pip install 'sweepkit[mysql]')",
    "MySQLdb": "mysqlclient, or use mysql+pymysql:// with PyMySQL (pip install 'sweepkit[mysql]')",
    "redis": "redis (pip install 'sweepkit[redis]')",
}
# What a dialect's users should write when the driver they named does not exist.
DIALECT_HINTS = {
    "postgresql": "postgresql+psycopg:// (pip install 'sweepkit[postgres]')",
    "mysql": "mysql+pymysql:// (pip install 'sweepkit[mysql]')",
    "mariadb": "mariadb+pymysql:// (pip install 'sweepkit[mysql]')",
    "sqlite": "sqlite:///path/to/sweeps.db",
}

_PASSWORD_KEYS = {"password", "passwd", "pwd", "pass"}


def _userinfo_span(url: str) -> tuple[int, int] | None:
    """Where `user:password` sits in a URL, or None. Found by the last `@` before the path, so a password
    typed with a raw `@` or `/` in it (instead of %40, %2F) is still found whole."""
    start = url.find("://")
    if start < 0:
        return None
    start += 3
    rest = url[start:].split("?", 1)[0]
    at = rest.rfind("@")
    if at < 0:
        return None
    return start, start + at


def password_of(url: str) -> str | None:
    """The password written in a URL (userinfo or a `password=` query key), as written."""
    span = _userinfo_span(url)
    if span is not None:
        userinfo = url[span[0] : span[1]]
        if ":" in userinfo:
            return userinfo.split(":", 1)[1] or None
    for key, value in _query_pairs(url):
        if key.lower() in _PASSWORD_KEYS and value:
            return value
    return None


def redact(url: str) -> str:
    """A URL safe to print: any password replaced by ***."""
    span = _userinfo_span(url)
    if span is not None:
        userinfo = url[span[0] : span[1]]
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            url = f"{url[: span[0]]}{user}:***{url[span[1] :]}"
    keys = "|".join(sorted(_PASSWORD_KEYS))
    return re.sub(rf"([?&](?:{keys})=)[^&#]*", r"\1***", url, flags=re.IGNORECASE)


def scrub(text: str, url: str | None) -> str:
    """A driver's message with the URL's password taken out (some drivers echo what they were given)."""
    password = password_of(url or "")
    if password:
        for form in {password, unquote(password)}:
            if len(form) >= 2:
                text = text.replace(form, "***")
    return text


def _query_pairs(url: str) -> list[tuple[str, str]]:
    if "?" not in url:
        return []
    query = url.split("?", 1)[1].split("#", 1)[0]
    pairs = []
    for part in query.split("&"):
        if part:
            key, _, value = part.partition("=")
            pairs.append((unquote(key), unquote(value)))
    return pairs


@dataclass
class ParsedURL:
    """A database URL: the URL for the library underneath, and sweepkit's own options taken out of it."""

    url: str
    scheme: str  # as written before "://", e.g. "postgresql+psycopg"
    options: dict[str, str] = field(default_factory=dict)

    @property
    def dialect(self) -> str:
        return self.scheme.partition("+")[0].lower()

    @property
    def driver(self) -> str:
        return self.scheme.partition("+")[2]

    @property
    def is_redis(self) -> bool:
        return self.dialect in ("redis", "rediss", "unix")

    def query_has(self, key: str) -> bool:
        return any(k == key for k, _ in _query_pairs(self.url))


def parse(url: str) -> ParsedURL:
    """Split off sweepkit's options; normalise what SQLAlchemy would refuse though users write it often."""
    if "://" not in url:
        raise UsageError(f'"{redact(url)}" is not a storage URL: use {EXAMPLES}')
    scheme, _, rest = url.partition("://")
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9.+-]*", scheme):
        raise UsageError(f'"{redact(url)}" is not a storage URL: use {EXAMPLES}')
    options: dict[str, str] = {}
    if "?" in rest:
        base, _, query = rest.partition("?")
        kept = []
        for part in query.split("&"):
            key, _, value = part.partition("=")
            if unquote(key) in OWN_OPTIONS:
                options[unquote(key)] = unquote(value)
            elif part:
                kept.append(part)
        rest = base + (f"?{'&'.join(kept)}" if kept else "")
    if scheme.lower() == "postgres":  # Heroku's and libpq's spelling; SQLAlchemy only knows "postgresql"
        scheme = "postgresql"
    elif scheme.lower() in ("mysql", "mariadb") and _missing("MySQLdb") and not _missing("pymysql"):
        # SQLAlchemy's default MySQL driver is mysqlclient; the `mysql` extra installs PyMySQL: use it.
        scheme = f"{scheme}+pymysql"
    parsed = ParsedURL(url=f"{scheme}://{rest}", scheme=scheme, options=options)
    if "prefix" in options and not parsed.is_redis:
        raise UsageError(f'"{redact(url)}": prefix= is an option of Redis stores only')
    return parsed


def check(url: str) -> ParsedURL:
    """What can be known of a database URL without connecting: its form, and a database kind that exists
    (`foo://bar` would otherwise pass `validate` and fail `run`)."""
    parsed = parse(url)
    if parsed.is_redis:
        return parsed
    from sqlalchemy.dialects import registry  # here: SQLAlchemy loads only for a SQL store

    try:
        registry.load(parsed.dialect)
    except Exception:  # NoSuchModuleError, or a broken third-party dialect: either way not usable
        raise UsageError(
            f'"{redact(url)}" is not a storage URL sweepkit can use: no database is called "{parsed.dialect}"; '
            f"use {EXAMPLES}"
        ) from None
    return parsed


def _missing(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None in sys.modules
        return True


def retry_seconds(options: dict[str, str], url: str) -> float:
    """How long a dropped store is retried: the URL's `retry=` first, then $SWEEPKIT_STORE_RETRY_SECONDS,
    then 60 s. 0 turns retrying off."""
    from sweepkit.spec import parse_duration  # here: the spec imports this module

    for value, where in ((options.get("retry"), f'retry= in "{redact(url)}"'), (os.environ.get(RETRY_ENV), RETRY_ENV)):
        if value is None or not value.strip():
            continue
        if re.fullmatch(r"\s*0*\.?0*\s*s?\s*", value):  # "0", "0.0", "0s": no retrying
            return 0.0
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise UsageError(f"{where}: {exc} (0 turns retrying off)") from None
    return DEFAULT_RETRY_SECONDS


__all__ = ["DRIVER_HINTS", "ParsedURL", "check", "parse", "password_of", "redact", "retry_seconds", "scrub"]
