"""Concurrency limits shared by every thread and every SDK process of one
machine: slots are lock files (``fcntl.flock``) in a folder of this
machine's temp dir, so ``--per_host_concurrency 2`` means at most 2
requests from the machine to that host, however many processes Beam runs.
A lock dies with its process, so a crashed worker frees its slots.

Within a process, threads first take a slot of a process-wide semaphore of
the same size, so waiting costs no CPU there: only threads that hold one
look for a free lock file, and they poll (with back-off) only while other
processes hold the rest. Busy polling by every waiting thread cost more CPU
than the fetching itself (benchmarks/README.md, "URLs against files").

Per-host slots are kept per *bucket* of hosts (:func:`host_bucket`,
:data:`HOST_BUCKETS` of them), so a crawl over millions of hosts keeps at
most that many semaphores per process and ``HOST_BUCKETS`` x
``--per_host_concurrency`` lock files per machine, instead of one set per
host forever. Two hosts in one bucket share its slots: with 64 requests in
flight over 4,096 buckets that is rare, and costs only a wait.
"""
from __future__ import annotations

import collections
import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
import time
from typing import Dict, Iterator, Optional, Tuple

HOST_BUCKETS = 4096
POLL_SECONDS = 0.002
MAX_POLL_SECONDS = 0.05

_PROCESS_LOCK = threading.Lock()
_PROCESS_SLOTS: Dict[Tuple[str, int], threading.BoundedSemaphore] = {}


def _process_slots(prefix: str, count: int) -> threading.BoundedSemaphore:
  with _PROCESS_LOCK:
    key = (prefix, count)
    if key not in _PROCESS_SLOTS:
      _PROCESS_SLOTS[key] = threading.BoundedSemaphore(count)
    return _PROCESS_SLOTS[key]


class HostHealth:
  """Hosts that stopped answering (a circuit breaker per host).

  After ``threshold`` timeouts or failed connections in a row, a host's
  URLs fail at once, without a request, for ``cool_down`` seconds; then the
  next URL is tried, and one success closes it. A dead host then costs a
  few requests' timeouts, not one per URL. At most ``max_hosts`` hosts are
  remembered, least recently seen dropped first.
  """

  def __init__(self, threshold: int = 5, cool_down: float = 60.0,
               max_hosts: int = 10_000, clock=time.monotonic):
    self._threshold = threshold
    self._cool_down = cool_down
    self._max = max_hosts
    self._clock = clock
    self._lock = threading.Lock()
    # host -> (failures in a row, open until, the last failure's reason)
    self._hosts: "collections.OrderedDict[str, Tuple[int, float, str]]" = (
        collections.OrderedDict())

  def refusal(self, host: str) -> Optional[Tuple[str, str]]:
    """(reason, message) while ``host``'s breaker is open, else None."""
    with self._lock:
      state = self._hosts.get(host)
      if state is None:
        return None
      failures_in_a_row, until, reason = state
      if until <= self._clock():
        return None
      return reason, (f"not tried: {host} failed its last "
                      f"{failures_in_a_row} requests in a row ({reason}); "
                      f"it is tried again after {self._cool_down:g} s")

  def failed(self, host: str, reason: str) -> None:
    with self._lock:
      count = self._hosts.get(host, (0, 0.0, reason))[0] + 1
      until = (self._clock() + self._cool_down
               if count >= self._threshold else 0.0)
      self._hosts[host] = (count, until, reason)
      self._hosts.move_to_end(host)
      while len(self._hosts) > self._max:
        self._hosts.popitem(last=False)

  def succeeded(self, host: str) -> None:
    with self._lock:
      self._hosts.pop(host, None)

  def __len__(self) -> int:
    return len(self._hosts)


def host_bucket(host: str) -> str:
  """The slot name of ``host``'s bucket (lowercase host; stable across
  processes, unlike ``hash``)."""
  digest = hashlib.sha256(host.lower().encode()).digest()
  return f"host-bucket:{int.from_bytes(digest[:4], 'big') % HOST_BUCKETS}"


def slots_dir() -> str:
  folder = os.path.join(tempfile.gettempdir(),
                        f"hub_image_beam_fetch_slots_{os.getuid()}")
  os.makedirs(folder, exist_ok=True)
  return folder


class Slots:
  """``count`` slots named ``name`` on this machine."""

  def __init__(self, name: str, count: int, folder: str = ""):
    self._prefix = os.path.join(folder or slots_dir(), hashlib.sha256(
        name.encode()).hexdigest()[:16])
    self._count = count
    self._here = _process_slots(self._prefix, count)

  @contextlib.contextmanager
  def held(self) -> Iterator[int]:
    """Waits for a free slot and holds it; yields its number."""
    with self._here:
      fd, slot = self._take_file()
      try:
        yield slot
      finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

  def _take_file(self) -> Tuple[int, int]:
    pause = POLL_SECONDS
    while True:
      for slot in range(self._count):
        fd = os.open(f"{self._prefix}.{slot}", os.O_CREAT | os.O_RDWR, 0o600)
        try:
          fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
          os.close(fd)
          continue
        return fd, slot
      # Other processes hold the rest.
      time.sleep(pause)
      pause = min(MAX_POLL_SECONDS, pause * 2)
