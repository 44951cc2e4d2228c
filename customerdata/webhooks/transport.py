"""One HTTP POST of a delivery: to a checked address, within a deadline, reading at most 1 KiB back.

The connection is made here, not by a client library, so that the address checked is the one
connected to (a rebinding name gets no second lookup), redirects are never followed, and a
receiver that trickles bytes or never answers costs the timeout at most: a timer shuts the socket
when the deadline passes, whatever the worker is blocked on.
"""
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from . import destinations

RESPONSE_BYTES = 1024
USER_AGENT = "CustomerData-Webhooks/1.0"


@dataclass
class Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int
    response: str
    retry_after: str | None = None


def post(url, body, headers, timeout, allow_private):
    started = time.monotonic()

    def outcome(status_code=None, error=None, response=b"", retry_after=None):
        return Outcome(status_code, _storable(error), round((time.monotonic() - started) * 1000),
                       _storable(response.decode("utf-8", "replace")), retry_after)

    try:
        scheme, host, port = destinations.split(url)
    except destinations.Refused as refused:
        return outcome(error=str(refused))
    addresses = destinations.resolve(host, port)
    if not addresses:
        return outcome(error=f'The host "{host}" does not resolve.')
    if not allow_private:
        addresses = [address for address in addresses if destinations.is_public(address)]
        if not addresses:
            return outcome(error=f'Refused: "{host}" resolves to an address that is not public.')
    deadline = started + timeout
    sock = None
    timer = None
    try:
        sock = _connect(addresses, port, deadline, allow_private)
        expired = threading.Event()
        timer = threading.Timer(max(deadline - time.monotonic(), 0), _shut, (sock, expired))
        timer.daemon = True
        timer.start()
        if scheme == "https":
            sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
        connection = (http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection)(host, port)
        connection.sock = sock  # already connected (and checked): http.client only speaks HTTP on it
        connection.request("POST", _target(url), body, {
            **headers, "Content-Type": "application/json", "User-Agent": USER_AGENT})
        answer = connection.getresponse()
        response = answer.read(RESPONSE_BYTES)
        if expired.is_set():  # the deadline cut the answer short: its status came too late to count
            return outcome(error=f"Timed out after {timeout} s.", response=response)
        return outcome(answer.status, None, response, answer.getheader("Retry-After"))
    except _Unreachable as unreachable:
        return outcome(error=str(unreachable))
    except (OSError, http.client.HTTPException) as error:
        if time.monotonic() >= deadline:
            return outcome(error=f"Timed out after {timeout} s.")
        return outcome(error=_describe(error))
    finally:
        if timer is not None:
            timer.cancel()
        if sock is not None:
            sock.close()


class _Unreachable(Exception):
    pass


def _connect(addresses, port, deadline, allow_private):
    last_error = None
    for address in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(remaining)
        try:
            sock.connect((address, port))
            peer = sock.getpeername()[0]
            if not allow_private and not destinations.is_public(peer):  # the address actually reached
                raise _Unreachable(f"Refused: connected to {peer}, which is not public.")
            return sock
        except OSError as error:
            sock.close()
            last_error = error
        except _Unreachable:
            sock.close()
            raise
    if last_error is None:
        raise TimeoutError("timed out")
    raise last_error


def _shut(sock, expired):
    expired.set()
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def _target(url):
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _storable(text):
    """Text a database column takes: PostgreSQL refuses NUL characters, which receivers may send."""
    return None if text is None else text.replace("\x00", "\N{REPLACEMENT CHARACTER}")


def _describe(error):
    if isinstance(error, ConnectionRefusedError):
        return "Connection refused."
    if isinstance(error, TimeoutError):  # socket.timeout is its alias
        return "Timed out."
    if isinstance(error, ssl.SSLError):
        return f"TLS error: {error.reason or error}."[:255]
    return f"{type(error).__name__}: {error}"[:255]
