"""Fetching one image over http(s): httpcore (httpx's own core) with a
network backend that checks every address before it connects.

Why httpcore (docs: README "Images behind URLs"): the address check must
happen on the address actually connected to, after our own DNS lookup and
before a byte is sent (a lookup made earlier can be rebound), and on every
redirect hop; httpcore lets a network backend do exactly that, while TLS
still verifies the certificate for the URL's host name. Redirects are
followed here, hop by hop, so each is checked like the first.

Every outcome is an :class:`~transforms.core.failures.ImageFailure` with a
reason of its own, or the body's bytes with the content type. No response
body is ever copied into a message.
"""
from __future__ import annotations

import dataclasses
import random
import socket
import threading
import time
import urllib.parse
import urllib.robotparser
from typing import Dict, Iterable, List, Optional, Tuple

import httpcore

from transforms.core import failures
from transforms.fetch import addresses
from transforms.fetch import limits
from transforms.fetch import opt_out
from transforms.fetch import retries
from transforms.fetch import settings as fetch_settings

SCHEMES = ("http", "https")
# robots.txt per origin, for this process (its threads and DoFns share it).
_ROBOTS: Dict[str, Optional[urllib.robotparser.RobotFileParser]] = {}
_ROBOTS_LOCK = threading.Lock()
_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclasses.dataclass(frozen=True)
class Fetched:
  """Attributes:
    data: the body.
    content_type: as the server declared it ('' when it did not).
    url: the last hop's URL.
  """
  data: bytes
  content_type: str
  url: str


class _Blocked(Exception):
  pass


class GuardedBackend(httpcore.NetworkBackend):
  """Resolves the host itself and connects only to an allowed address."""

  def __init__(self, allow_private: bool):
    self._inner = httpcore.SyncBackend()
    self._allow_private = allow_private

  def connect_tcp(self, host, port, timeout=None, local_address=None,
                  socket_options=None):
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    reasons = []
    for family, _, _, _, sockaddr in infos:
      address = sockaddr[0]
      why = addresses.blocked_because(address)
      if why is not None and self._allow_private and \
          not addresses.is_metadata(address):
        why = None
      if why is None:
        return self._inner.connect_tcp(address, port, timeout=timeout,
                                       local_address=local_address,
                                       socket_options=socket_options)
      reasons.append(f"{address} is {why}")
    raise _Blocked(f"{host} resolves only to refused addresses: "
                   f"{'; '.join(reasons)} (--allow_private_addresses opts in)")

  def connect_unix_socket(self, path, timeout=None, socket_options=None):
    raise _Blocked("unix sockets are not fetched from")

  def sleep(self, seconds):
    time.sleep(seconds)


def _failure(reason: str, message: str) -> failures.ImageFailure:
  return failures.ImageFailure(reason, message)


def check_url(url: str) -> Optional[str]:
  """Why ``url`` cannot be fetched at all (scheme, credentials), or None."""
  parts = urllib.parse.urlsplit(url)
  if parts.scheme.lower() not in SCHEMES:
    return f"scheme {parts.scheme or 'none'!r} is not fetched (http, https)"
  if parts.username is not None or parts.password is not None:
    return "the URL has credentials in it (user:pass@), which are refused"
  if not parts.hostname:
    return "the URL has no host"
  return None


def _header(headers: Iterable[Tuple[bytes, bytes]], name: str) -> List[str]:
  wanted = name.lower().encode()
  return [v.decode("latin-1") for k, v in headers if k.lower() == wanted]


class Fetcher:
  """Fetches URLs with one job's settings; one per process, shared by its
  threads (the connection pool is thread-safe)."""

  def __init__(self, settings: fetch_settings.FetchSettings,
               slots_folder: str = ""):
    self._s = settings
    self._pool = httpcore.ConnectionPool(
        max_connections=settings.concurrency,
        network_backend=GuardedBackend(settings.allow_private_addresses))
    self._machine = limits.Slots("machine", settings.concurrency,
                                 slots_folder)
    self._slots_folder = slots_folder
    self._hosts: Dict[str, limits.Slots] = {}
    self._rng = random.Random()

  def _host_slots(self, host: str) -> limits.Slots:
    if host not in self._hosts:
      self._hosts[host] = limits.Slots(f"host:{host}",
                                       self._s.per_host_concurrency,
                                       self._slots_folder)
    return self._hosts[host]

  def _timeouts(self) -> Dict[str, float]:
    return {"connect": self._s.connect_timeout, "read": self._s.read_timeout,
            "write": self._s.read_timeout, "pool": self._s.total_timeout}

  def _headers(self, url: str) -> List[Tuple[bytes, bytes]]:
    host = urllib.parse.urlsplit(url).netloc
    return [(b"Host", host.encode("idna") if not host.isascii() else
             host.encode()), (b"User-Agent", self._s.user_agent.encode()),
            (b"Accept", b"image/*,*/*;q=0.5")]

  def _robots_allow(self, url: str) -> bool:
    parts = urllib.parse.urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc}"
    with _ROBOTS_LOCK:  # one fetch per host per process, every thread
      if origin not in _ROBOTS:
        parser: Optional[urllib.robotparser.RobotFileParser] = None
        try:
          status, _, body = self._get_small(origin + "/robots.txt")
          if status == 200:
            parser = urllib.robotparser.RobotFileParser()
            parser.parse(body.decode("utf-8", "replace").splitlines())
        except Exception:  # pylint: disable=broad-except
          parser = None   # no robots.txt to read: allowed
        _ROBOTS[origin] = parser
      parser = _ROBOTS[origin]
    return parser is None or parser.can_fetch(self._s.user_agent, url)

  def _get_small(self, url: str) -> Tuple[int, list, bytes]:
    with self._host_slots(urllib.parse.urlsplit(url).hostname or "").held():
      response = self._pool.request("GET", url, headers=self._headers(url),
                                    extensions={"timeout": self._timeouts()})
    return response.status, response.headers, response.content[:1 << 20]

  def _one_hop(self, url: str, deadline: float):
    """One request: ('redirect', location) or ('done', Fetched), or raises
    ImageFailure / a retryable error."""
    host = urllib.parse.urlsplit(url).hostname or ""
    # The host's slot first: a request waiting for its host holds no
    # machine slot that requests to other hosts could use.
    with self._host_slots(host).held(), self._machine.held():
      with self._pool.stream("GET", url, headers=self._headers(url),
                             extensions={"timeout": self._timeouts()}
                             ) as response:
        status = response.status
        if status in _REDIRECTS:
          location = _header(response.headers, "location")
          if not location:
            raise _failure(failures.REASON_REDIRECT,
                           f"{status} without a Location header")
          return "redirect", urllib.parse.urljoin(url, location[0])
        if retries.retryable_status(status):
          raise _RetryableStatus(status, _header(response.headers,
                                                 "retry-after"))
        if status != 200:
          raise _failure(failures.REASON_HTTP_STATUS,
                         f"HTTP {status} from {host}")
        directive = opt_out.opted_out(
            _header(response.headers, "x-robots-tag"),
            self._s.disallowed_directives, self._s.user_agent)
        if directive:
          raise _failure(failures.REASON_OPTED_OUT,
                         f"{host} says X-Robots-Tag: {directive}")
        length = _header(response.headers, "content-length")
        if length and length[0].isdigit() and int(length[0]) > \
            self._s.max_bytes:
          raise _failure(failures.REASON_RESPONSE_TOO_LARGE,
                         f"Content-Length {length[0]} is above --max_bytes "
                         f"{self._s.max_bytes}")
        chunks, size = [], 0
        for chunk in response.iter_stream():
          size += len(chunk)
          if size > self._s.max_bytes:
            raise _failure(failures.REASON_RESPONSE_TOO_LARGE,
                           f"body passed --max_bytes {self._s.max_bytes}")
          if time.monotonic() > deadline:
            raise _failure(failures.REASON_TIMEOUT,
                           f"body still arriving after the total deadline of "
                           f"{self._s.total_timeout:g} s ({size} bytes)")
          chunks.append(chunk)
        content_type = (_header(response.headers, "content-type") or [""])[0]
        return "done", Fetched(b"".join(chunks), content_type, url)

  def fetch(self, url: str) -> Fetched:
    """The image at ``url``.

    Raises:
      failures.ImageFailure: with reason ``blocked_address``, ``redirect``,
        ``http``, ``opted_out``, ``robots``, ``response_too_large``,
        ``timeout``, ``connection`` or ``unsupported_url``.
    """
    problem = check_url(url)
    if problem:
      raise _failure(failures.REASON_UNSUPPORTED_URL, problem)
    attempt = 0
    while True:
      try:
        return self._follow(url)
      except _Retryable as e:
        attempt += 1
        if attempt > self._s.retries:
          raise e.final(attempt) from None
        wait = e.wait(time.time(), self._s.retry_after_cap)
        if wait is None:
          wait = retries.backoff(attempt, self._rng, self._s.retry_after_cap)
        time.sleep(wait)

  def _follow(self, url: str) -> Fetched:
    deadline = time.monotonic() + self._s.total_timeout
    seen = [url]
    current = url
    while True:
      problem = check_url(current)
      if problem:
        raise _failure(failures.REASON_REDIRECT,
                       f"redirected to a URL that is refused: {problem}")
      if self._s.respect_robots_txt and not self._robots_allow(current):
        raise _failure(failures.REASON_ROBOTS,
                       f"robots.txt of {urllib.parse.urlsplit(current).netloc}"
                       " disallows it")
      try:
        kind, value = self._one_hop(current, deadline)
      except failures.ImageFailure:
        raise
      except _RetryableStatus as e:
        raise _Retryable(f"HTTP {e.status}", failures.REASON_HTTP_STATUS,
                         e.retry_after)
      except _Blocked as e:
        raise _failure(failures.REASON_BLOCKED_ADDRESS, str(e)) from None
      except (httpcore.TimeoutException, socket.timeout) as e:
        raise _Retryable(f"timed out ({type(e).__name__})",
                         failures.REASON_TIMEOUT) from None
      except Exception as e:  # pylint: disable=broad-except
        # Network and protocol errors; httpcore may wrap our backend's
        # refusal, which stays a refusal.
        cause = e.__cause__ or e.__context__
        if isinstance(cause, _Blocked):
          raise _failure(failures.REASON_BLOCKED_ADDRESS,
                         str(cause)) from None
        raise _Retryable(f"{type(e).__name__}: {str(e)[:200]}",
                         failures.REASON_CONNECTION_ERROR) from None
      if kind == "done":
        return value
      if value in seen:
        raise _failure(failures.REASON_REDIRECT,
                       f"redirect loop after {len(seen)} hops")
      if len(seen) > self._s.max_redirects:
        raise _failure(failures.REASON_REDIRECT,
                       f"more than {self._s.max_redirects} redirects")
      seen.append(value)
      current = value

  def close(self) -> None:
    self._pool.close()


class _RetryableStatus(Exception):

  def __init__(self, status: int, retry_after: List[str]):
    super().__init__(status)
    self.status = status
    self.retry_after = retry_after[0] if retry_after else None


class _Retryable(Exception):

  def __init__(self, what: str, reason: str,
               retry_after: Optional[str] = None):
    super().__init__(what)
    self.what, self.reason, self.retry_after = what, reason, retry_after

  def wait(self, now: float, cap: float) -> Optional[float]:
    return retries.retry_after(self.retry_after, now, cap)

  def final(self, attempts: int) -> failures.ImageFailure:
    return _failure(self.reason, f"{self.what}, after {attempts} attempts")
