"""`sweepkit dashboard`: optuna-dashboard's live web UI, serving the store sweepkit writes.

The store is handed over as the Optuna storage object sweepkit itself opens (the embedded journal file, or a
database), so the dashboard reads exactly what running sweeps write. The journal file is appended under a
file lock and read without one: the dashboard never holds up a sweep, and never meets SQLite's "database is
locked". The dashboard is read-only unless `--allow-edits`: optuna-dashboard can also delete and rename
studies and tell trials from the browser, which would bypass sweepkit's rule that nothing is silently lost.
It answers only requests addressed to this machine's loopback names (or `--host`'s), against DNS rebinding.
"""

from __future__ import annotations

import errno
import ipaddress
import json
import signal
import socket
import sys
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any, TextIO
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from sweepkit.errors import UsageError

DEFAULT_PORT = 8080  # optuna-dashboard's own default
INSTALL_HINT = "pip install 'sweepkit[dashboard]'"
_READ_METHODS = ("GET", "HEAD", "OPTIONS")


class _ThreadedServer(ThreadingMixIn, WSGIServer):
    """One thread per request (as optuna-dashboard's own CLI): a page loads its scripts and API calls at once."""

    daemon_threads = True


class _ThreadedServer6(_ThreadedServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    """No line on stderr per request (a page load makes dozens); errors still go there."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass


def _forbidden(start_response: Callable[..., Any], reason: str) -> list[bytes]:
    """A 403 whose JSON body says why, so the browser's network panel shows what to do."""
    body = json.dumps({"reason": reason}).encode()
    start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def read_only(app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
    """The WSGI app with every request that would change the store answered 403 (with the reason shown)."""

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD", "GET").upper() in _READ_METHODS:
            return app(environ, start_response)
        return _forbidden(
            start_response,
            "this sweepkit dashboard is read-only: restart it with --allow-edits to change sweeps from the browser",
        )

    return guarded


_LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
_EVERY_INTERFACE = ("", "0.0.0.0", "::")


def _host_name(header: str) -> str:
    """The name in a Host header, without its port: `[::1]:8080` → `::1`, `localhost:8080` → `localhost`."""
    header = header.strip().lower().rstrip(".")
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def host_checked(app: Callable[..., Iterable[bytes]], host: str) -> Callable[..., Iterable[bytes]]:
    """The WSGI app answering only requests addressed to this machine's names: loopback, and `--host`'s.

    A page on any web site can re-point its own name at 127.0.0.1 (DNS rebinding) and then read the
    dashboard as if it were its own; the browser still sends that site's name as Host, so it is refused
    (403). Listening on every interface (`--host 0.0.0.0`) means any name reaching the machine is meant.
    """
    if host in _EVERY_INTERFACE:
        return app
    allowed = _LOOPBACK_NAMES | {_host_name(host)}

    def guarded(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if _host_name(environ.get("HTTP_HOST", "")) in allowed:
            return app(environ, start_response)
        return _forbidden(
            start_response,
            "this sweepkit dashboard answers only requests addressed to localhost, 127.0.0.1 or [::1] "
            "(or the address given with --host)",
        )

    return guarded


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):  # every interface: this machine's own address works from here
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def bind(app: Any, host: str, port: int) -> WSGIServer:
    """The listening server, or a UsageError saying why the address cannot be used."""
    server_class = _ThreadedServer6 if ":" in host else _ThreadedServer
    try:
        return make_server(host, port, app, server_class=server_class, handler_class=_QuietHandler)
    except OverflowError:
        raise UsageError(f"--port {port}: expected a port number from 0 to 65535") from None
    except socket.gaierror as exc:
        raise UsageError(f'--host "{host}": not an address of this machine ({exc.strerror})') from None
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"port {port} on {host} is in use (another dashboard?): pick another with --port, "
                "or --port 0 for any free one"
            ) from None
        if exc.errno == errno.EACCES:
            raise UsageError(f"port {port} needs administrator rights: pick one above 1023 with --port") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise UsageError(f'--host "{host}": not an address of this machine') from None
        raise


def serve(
    name: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    storage: str | None = None,
    allow_edits: bool = False,
    out: TextIO | None = None,
) -> int:
    """Serve the dashboard until Ctrl+C or SIGTERM; prints its URL (the sweep's page when `name` is given)."""
    from sweepkit.store import Store

    out = out or sys.stdout
    store = Store(storage)
    path = "/dashboard"
    if name is not None:
        name = store.load(name).study_name  # its label finds it too; an unknown name: UsageError listing the sweeps
        path = f"/dashboard/studies/{store.storage.get_study_id_from_name(name)}"
    try:
        import optuna_dashboard
    except ImportError:
        raise UsageError(f"the dashboard needs optuna-dashboard: {INSTALL_HINT}") from None
    app = optuna_dashboard.wsgi(store.storage)
    server = bind(host_checked(app if allow_edits else read_only(app), host), host, port)
    url = f"http://{_url_host(host)}:{server.server_port}{path}"
    print(f"sweepkit dashboard of {store.describe()}: {url}", file=out, flush=True)
    if not _is_loopback(host):
        print(
            f"note: listening on {host}: anyone who can reach this machine can see the sweeps"
            + (" and change them (--allow-edits)" if allow_edits else ""),
            file=out,
            flush=True,
        )
    if name is None and not store.names():
        print("note: no sweeps in the store yet: they show up as they start", file=out, flush=True)

    def _stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        print("sweepkit dashboard stopped", file=out, flush=True)
    finally:
        signal.signal(signal.SIGTERM, previous)
        server.server_close()
    return 0


__all__ = ["DEFAULT_PORT", "bind", "host_checked", "read_only", "serve"]
