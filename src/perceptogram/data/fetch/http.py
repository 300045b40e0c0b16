"""HTTP for downloads: an allow-list of hosts, bounded reads, retries with backoff.

Every URL a download touches — the listing pages, the links they contain and every
redirect — is checked by a :class:`HostPolicy` before it is opened: only
``https://`` on the expected hosts (``file://``, ``ftp://``, ``data:`` and other
hosts are refused). Requests go through an opener that has no handler for any other
scheme. Transient failures (HTTP 429 and 5xx, refused or dropped connections,
timeouts) raise :class:`TransientError`; :func:`call_with_retries` repeats an
attempt with exponential backoff that honours ``Retry-After`` (seconds or an HTTP
date), capped, and finally raises a clear :class:`~perceptogram.errors.OfflineError`.

No wait is silent or unbounded: every wait before a retry prints one line saying what
is awaited and for how long (:func:`perceptogram._progress.say`); one wait is at most
:attr:`RetryPolicy.max_wait` (60 s) and all of them together at most
``(attempts - 1) * max_wait`` (5 minutes by default); a body is read with a deadline
(:func:`read_bounded`), so a server that trickles bytes cannot hold a read for longer
than that plus one socket timeout.
"""

from __future__ import annotations

import email.utils
import http.client
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TypeVar

from perceptogram import __version__
from perceptogram._progress import say
from perceptogram.errors import DataFormatError, OfflineError, PerceptogramError

__all__ = [
    "OSF_HOSTS",
    "HostPolicy",
    "RetryPolicy",
    "TransientError",
    "UnsafeLinkError",
    "call_with_retries",
    "open_url",
    "read_bounded",
    "shown",
]

T = TypeVar("T")

#: Hosts of the OSF API, its file servers (``files.<region>.osf.io``) and the cloud
#: storage it redirects downloads to. ``*.`` matches any sub-domain.
OSF_HOSTS: tuple[str, ...] = ("osf.io", "*.osf.io", "storage.googleapis.com")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_USER_AGENT = f"perceptogram/{__version__}"
_MAX_SHOWN = 120


class UnsafeLinkError(DataFormatError):
    """A listing or a redirect points somewhere a download must not go."""


def shown(url: str) -> str:
    """``url`` quoted and shortened for a message (it may come from a hostile server)."""
    text = url if len(url) <= _MAX_SHOWN else url[:_MAX_SHOWN] + "..."
    return repr(text)


def _host_matches(host: str, pattern: str) -> bool:
    pattern = pattern.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


@dataclass(frozen=True)
class HostPolicy:
    """Which URLs a download may open.

    Parameters
    ----------
    hosts : tuple of str
        Host names reachable over ``https://``; ``"*.example.org"`` matches every
        sub-domain (not ``example.org`` itself).
    allow_http_localhost : bool
        Also allow plain ``http://`` to the loopback interface. For tests with a
        local server only; the command line never sets it.
    """

    hosts: tuple[str, ...] = OSF_HOSTS
    allow_http_localhost: bool = False

    def check(self, url: str) -> str:
        """Return ``url`` if it may be opened.

        Raises
        ------
        UnsafeLinkError
            Naming the URL and what is allowed.
        """
        if not isinstance(url, str):
            raise UnsafeLinkError(f"a download link must be a string, not {type(url).__name__}")
        try:
            parts = urllib.parse.urlsplit(url)
            host = (parts.hostname or "").lower()
            parts.port  # noqa: B018 - raises ValueError on a malformed port
        except ValueError:
            raise UnsafeLinkError(f"refusing the malformed link {shown(url)}") from None
        if parts.scheme == "https" and host and any(_host_matches(host, p) for p in self.hosts):
            return url
        if self.allow_http_localhost and parts.scheme in ("http", "https") and host in _LOOPBACK:
            return url
        raise UnsafeLinkError(
            f"refusing to follow the link {shown(url)}: downloads only use https:// on "
            f"{', '.join(self.hosts)}"
        )


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before giving up on a busy or flaky server.

    Parameters
    ----------
    attempts : int
        Tries in total (1: no retry).
    backoff : float
        Seconds before the first retry; doubled for every further one.
    max_wait : float
        Upper bound of one wait, also for a server's ``Retry-After``.
    sleep : callable
        ``sleep(seconds)``; tests inject a recorder instead of :func:`time.sleep`.
    """

    attempts: int = 6
    backoff: float = 1.0
    max_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 0 or self.max_wait < 0:
            raise ValueError("attempts must be >= 1 and backoff, max_wait >= 0")

    def delay(self, failures: int, retry_after: str | None = None) -> float:
        """Seconds to wait after the ``failures``-th failure (1-based).

        A server's ``Retry-After`` (delta seconds or an HTTP date) wins over the
        exponential schedule; both are capped at ``max_wait``.
        """
        wait = _parse_retry_after(retry_after)
        if wait is None:
            wait = self.backoff * 2.0 ** (failures - 1)
        return min(max(wait, 0.0), self.max_wait)


def _parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return (when - datetime.now(timezone.utc)).total_seconds()


class TransientError(Exception):
    """One attempt failed in a way that may succeed later (busy server, lost connection).

    Parameters
    ----------
    reason : str
        What happened, e.g. ``"HTTP 503 (Service Unavailable)"``.
    host : str
    retry_after : str or None
        The server's ``Retry-After`` header.
    """

    def __init__(self, reason: str, host: str, retry_after: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.host = host
        self.retry_after = retry_after


def call_with_retries(attempt: Callable[[], T], retry: RetryPolicy, what: str) -> T:
    """Call ``attempt()`` until it returns, waiting after each :class:`TransientError`.

    Parameters
    ----------
    attempt : callable
        One try; raises :class:`TransientError` for a failure worth repeating.
    retry : RetryPolicy
    what : str
        What is being done, for the final message (``"the download of sub-01.zip"``).

    Raises
    ------
    OfflineError
        After ``retry.attempts`` transient failures.
    """
    for failures in range(1, retry.attempts + 1):
        try:
            return attempt()
        except TransientError as exc:
            if failures == retry.attempts:
                raise OfflineError(
                    f"{what} failed {failures} time{'s' * (failures != 1)} ({exc.host}: "
                    f"{exc.reason}); check the internet connection or proxy, or try again "
                    "later: run the same command again (finished files are kept and "
                    "partial ones resume)"
                ) from None
            wait = retry.delay(failures, exc.retry_after)
            asked = " (as its Retry-After asks)" if _parse_retry_after(exc.retry_after) else ""
            say(f"{what}: {exc.host} answered {exc.reason}; waiting {wait:.0f} s{asked} "
                f"before try {failures + 1} of {retry.attempts}")
            retry.sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover


class _CheckedRedirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects only to URLs the policy allows."""

    def __init__(self, policy: HostPolicy) -> None:
        self.policy = policy

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: D102
        self.policy.check(newurl)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _opener(policy: HostPolicy) -> urllib.request.OpenerDirector:
    """An opener for http(s) only (no file://, ftp:// or data: handler)."""
    opener = urllib.request.OpenerDirector()
    for handler in (urllib.request.ProxyHandler(), urllib.request.HTTPHandler(),
                    urllib.request.HTTPSHandler(), urllib.request.HTTPDefaultErrorHandler(),
                    _CheckedRedirects(policy), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    return opener


def _is_transient_status(code: int) -> bool:
    return code == 429 or 500 <= code <= 599


def open_url(url: str, policy: HostPolicy, timeout: float,
             headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """Open ``url`` once (after checking it and every redirect against ``policy``).

    Returns
    -------
    response : http.client.HTTPResponse
        To be closed by the caller.

    Raises
    ------
    UnsafeLinkError
        ``url`` or a redirect is not allowed.
    TransientError
        HTTP 429 or 5xx, or the connection failed or timed out.
    PerceptogramError
        Any other HTTP error status (404, 403, ...).
    """
    policy.check(url)
    host = urllib.parse.urlsplit(url).netloc
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT, **(headers or {})})
    try:
        return _opener(policy).open(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        exc.close()
        if _is_transient_status(exc.code):
            raise TransientError(f"HTTP {exc.code} ({exc.reason})", host,
                                 exc.headers.get("Retry-After")) from None
        raise PerceptogramError(
            f"{host} answered HTTP {exc.code} ({exc.reason}) for {shown(url)}"
        ) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLCertVerificationError):
            raise PerceptogramError(
                f"the TLS certificate of {host} could not be verified ({exc.reason}); check "
                "the system's certificates or the proxy"
            ) from None
        raise TransientError(f"cannot connect: {exc.reason}", host) from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise TransientError(f"cannot connect: {exc or type(exc).__name__}", host) from None


#: Longest a body read by :func:`read_bounded` may take, seconds (a listing page is
#: at most 16 MiB; OSF sends one in well under a second).
READ_DEADLINE_S = 120.0


def read_bounded(response: http.client.HTTPResponse, limit: int, what: str,
                 deadline_s: float | None = None) -> bytes:
    """The whole body of ``response``, refusing one longer than ``limit`` bytes.

    Read in pieces as they arrive, so that a server trickling a few bytes at a
    time is cut off after ``deadline_s`` seconds (default :data:`READ_DEADLINE_S`;
    each piece also waits at most the socket timeout of the request).

    Raises
    ------
    DataFormatError
        The body (or its declared ``Content-Length``) exceeds ``limit``.
    TransientError
        The connection dropped while reading, or the body took longer than
        ``deadline_s``.
    """
    declared = response.headers.get("Content-Length")
    host = urllib.parse.urlsplit(response.geturl()).netloc
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        raise DataFormatError(f"{what} is {int(declared)} bytes, more than the {limit} "
                              "allowed; refusing to read it")
    if deadline_s is None:
        deadline_s = READ_DEADLINE_S
    end = time.monotonic() + deadline_s
    pieces: list[bytes] = []
    received = 0
    try:
        while received <= limit:
            piece = response.read1(min(1 << 16, limit + 1 - received))
            if not piece:
                break
            pieces.append(piece)
            received += len(piece)
            if time.monotonic() > end:
                raise TransientError(f"{what} did not arrive within {deadline_s:g} s "
                                     f"({received} bytes so far)", host)
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise TransientError(f"connection lost ({exc or type(exc).__name__})", host) from None
    body = b"".join(pieces)
    if len(body) > limit:
        raise DataFormatError(f"{what} is more than the {limit} bytes allowed; "
                              "refusing to read it")
    return body
