"""robots.txt as RFC 9309 says, parsed by protego, cached per origin with a
bound.

Why protego: Scrapy's parser, kept by the Scrapy project, implements RFC
9309's matching (``*`` and ``$`` in paths, the longest match wins, Allow
over Disallow on a tie), where the standard library's ``urllib.robotparser``
has neither wildcards nor longest match.

What a fetch of ``/robots.txt`` means (RFC 9309, 2.3.1):
- 2xx: the rules apply.
- redirects are followed, up to five hops, each hop checked as any URL
  (``core.urls``, and the fetcher's address policy); more is "unavailable".
- 4xx: "unavailable": everything is allowed.
- 5xx, or the server unreachable (refused, reset, timed out): "unreachable":
  everything is disallowed, for a short while (:data:`UNREACHABLE_TTL_S`),
  then asked again; such URLs fail as ``robots_unreachable``, which a later
  run tries again (a ``robots`` refusal it does not).

One fetch per origin at a time: a thread asking for an origin whose
robots.txt is being fetched waits for that fetch only, never for other
origins (no process-wide lock is held while fetching). The cache keeps at
most :data:`MAX_ORIGINS` origins, least recently used dropped first, each
for at most :data:`TTL_S` (RFC 9309: "SHOULD NOT use the cached version
for more than 24 hours").
"""
from __future__ import annotations

import collections
import dataclasses
import threading
import time
import urllib.parse
from typing import Callable, Dict, Optional, Tuple

import protego

MAX_ORIGINS = 10_000
TTL_S = 24 * 3600.0
UNREACHABLE_TTL_S = 60.0
MAX_HOPS = 5

ALLOWED = "allowed"
DISALLOWED = "disallowed"
UNREACHABLE = "unreachable"


@dataclasses.dataclass(frozen=True)
class _Entry:
  rules: Optional[protego.Protego]   # None: no rules (everything allowed)
  unreachable: bool
  expires: float


# get(url) -> (status, body, location): one GET, no redirects followed;
# raises for a connection that fails.
Getter = Callable[[str], Tuple[int, bytes, Optional[str]]]


class RobotsCache:
  """robots.txt verdicts for the origins one process fetches from."""

  def __init__(self, get: Getter, max_origins: int = MAX_ORIGINS,
               clock: Callable[[], float] = time.monotonic):
    self._get = get
    self._max = max_origins
    self._clock = clock
    self._lock = threading.Lock()    # guards the two dicts; held briefly
    self._entries: "collections.OrderedDict[str, _Entry]" = (
        collections.OrderedDict())
    self._fetching: Dict[str, threading.Event] = {}

  def __len__(self) -> int:
    return len(self._entries)

  def verdict(self, url: str, user_agent: str) -> str:
    """ALLOWED, DISALLOWED or UNREACHABLE for ``url``."""
    entry = self._entry(_origin(url))
    if entry.unreachable:
      return UNREACHABLE
    if entry.rules is None or entry.rules.can_fetch(url, user_agent):
      return ALLOWED
    return DISALLOWED

  def _entry(self, origin: str) -> _Entry:
    while True:
      with self._lock:
        entry = self._entries.get(origin)
        if entry is not None and entry.expires > self._clock():
          self._entries.move_to_end(origin)
          return entry
        waiting = self._fetching.get(origin)
        if waiting is None:
          done = self._fetching[origin] = threading.Event()
          break
      waiting.wait()   # another thread fetches this origin's robots.txt
    try:
      entry = self._fetch(origin)
      with self._lock:
        self._entries[origin] = entry
        self._entries.move_to_end(origin)
        while len(self._entries) > self._max:
          self._entries.popitem(last=False)
      return entry
    finally:
      with self._lock:
        del self._fetching[origin]
      done.set()

  def _fetch(self, origin: str) -> _Entry:
    now = self._clock()
    url = origin + "/robots.txt"
    for _ in range(MAX_HOPS + 1):
      try:
        status, body, location = self._get(url)
      except Exception:  # pylint: disable=broad-except
        return _Entry(None, True, now + UNREACHABLE_TTL_S)
      if 200 <= status < 300:
        text = body.decode("utf-8", "replace")
        return _Entry(protego.Protego.parse(text), False, now + TTL_S)
      if 300 <= status < 400 and location:
        url = urllib.parse.urljoin(url, location)
        continue
      if 400 <= status < 500:
        return _Entry(None, False, now + TTL_S)      # unavailable
      if status >= 500:
        return _Entry(None, True, now + UNREACHABLE_TTL_S)
      return _Entry(None, False, now + TTL_S)        # 1xx, 3xx without one
    return _Entry(None, False, now + TTL_S)          # too many redirects


def _origin(url: str) -> str:
  parts = urllib.parse.urlsplit(url)
  return f"{parts.scheme.lower()}://{parts.netloc.lower()}"
