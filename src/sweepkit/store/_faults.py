"""What went wrong talking to a store, in users' words: unreachable, login refused, no such database, or other.

Drivers report these causes as the same exception types (psycopg and PyMySQL both raise OperationalError for a
refused connection, a wrong password and a missing database), so the cause is read from error codes where the
driver gives one and from the message where it does not (psycopg 3 sets no SQLSTATE on a failed connect).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["unreachable", "login", "database", "transient", "other"]

# PyMySQL / MariaDB error numbers
_MYSQL_LOGIN = {1044, 1045, 1698}  # access denied (to a database, for a user, by the auth plugin)
_MYSQL_DATABASE = {1049}  # unknown database
_MYSQL_UNREACHABLE = {2003, 2005, 2006, 2013, 2055}  # can't connect, unknown host, gone away, lost connection

_UNREACHABLE = [
    (re.compile(r"connection refused", re.I), "connection refused"),
    (re.compile(r"name or service not known|failed to resolve host|unknown (mysql server )?host|"
                r"nodename nor servname|temporary failure in name resolution|getaddrinfo failed", re.I),
     "host not found"),
    (re.compile(r"timed? ?out|timeout expired", re.I), "timed out"),
    (re.compile(r"no route to host|network is unreachable|host is unreachable", re.I), "no route to the host"),
    (re.compile(r"server closed the connection|connection reset|broken pipe|lost connection|gone away|"
                r"connection (is |was |already )?closed|connection not open|eof detected|unexpected eof|"
                r"consuming input failed|ssl syscall error|closed by server|connection aborted", re.I),
     "the connection was lost"),
    (re.compile(r"the database system is (starting up|shutting down|in recovery mode)|"
                r"terminating connection due to administrator command|cannot connect now", re.I),
     "the server is restarting"),
    (re.compile(r"no such file or directory|connect(ion)? to server on socket", re.I), "no server on the socket"),
]  # fmt: skip
_LOGIN = re.compile(
    r"password authentication failed|authentication failed|role \"[^\"]*\" does not exist|no pg_hba\.conf entry|"
    r"access denied|invalid username-password|wrongpass|noauth|invalid password|permission denied for database",
    re.I,
)
_DATABASE = re.compile(
    r"database \"([^\"]*)\" does not exist|unknown database '([^']*)'|db index is out of range", re.I
)


@dataclass(frozen=True)
class Fault:
    kind: Kind
    detail: str  # a short reason: "connection refused", or the server's own words for a refused login
    database: str | None = None  # the missing database's name, when the server said it

    @property
    def retryable(self) -> bool:
        """Worth waiting for: the server may come back (a restart, a network cut) or a lock may clear."""
        return self.kind in ("unreachable", "transient")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception, what it was raised from, and the driver's own error under SQLAlchemy's wrapper."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        item = todo.pop(0)
        if item is None or any(item is s for s in seen) or len(seen) > 20:
            continue
        seen.append(item)
        todo += [getattr(item, "orig", None), item.__cause__, item.__context__]
    return seen


def _server_words(text: str) -> str:
    """The server's reason without the driver's preamble ("connection failed: connection to server at ...")."""
    text = text.strip().splitlines()[0] if text.strip() else text
    for marker in ("FATAL:", "ERROR:", "failed:"):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
    return re.sub(r"^\(\d+, ['\"](.*)['\"]\)$", r"\1", text.strip()).strip()


def classify(exc: BaseException) -> Fault:
    """The cause of a store error, read from the whole chain of exceptions behind it."""
    chain = _chain(exc)
    names = {type(e).__name__ for e in chain}
    modules = {type(e).__module__.split(".")[0] for e in chain}
    text = " | ".join(str(e) for e in chain)
    codes = {e.args[0] for e in chain if e.args and isinstance(e.args[0], int)}
    drivers = [orig for e in chain if (orig := getattr(e, "orig", None)) is not None]  # under SQLAlchemy's wrapper
    own = ("optuna", "sweepkit")
    driver = drivers[0] if drivers else next((e for e in chain if type(e).__module__.split(".")[0] not in own), exc)
    first = _server_words(str(driver))

    if codes & _MYSQL_LOGIN or _LOGIN.search(text) or "AuthenticationError" in names:
        return Fault("login", first)
    match = _DATABASE.search(text)
    if match or codes & _MYSQL_DATABASE:
        name = next((g for g in match.groups() if g), None) if match else None
        return Fault("database", first, name)
    for pattern, reason in _UNREACHABLE:
        if pattern.search(text):
            return Fault("unreachable", reason)
    if codes & _MYSQL_UNREACHABLE:
        return Fault("unreachable", "the connection was lost")
    if "redis" in modules and names & {"ConnectionError", "TimeoutError", "BusyLoadingError"}:
        return Fault("unreachable", first or "the connection was lost")
    if names & {"ConnectionError", "ConnectionRefusedError", "ConnectionResetError", "BrokenPipeError"}:
        return Fault("unreachable", first or "the connection was lost")
    # Deadlocks, lock timeouts, serialization failures: SQLAlchemy's OperationalError family, worth a retry.
    if names & {"OperationalError", "DisconnectionError", "InterfaceError"} and "sqlalchemy" in modules:
        return Fault("transient", first)
    return Fault("other", first)


__all__ = ["Fault", "classify"]
