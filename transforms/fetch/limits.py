"""Concurrency limits shared by every thread and every SDK process of one
machine: slots are lock files (``fcntl.flock``) in a folder of this
machine's temp dir, so ``--per_host_concurrency 2`` means at most 2
requests from the machine to that host, however many processes Beam runs.
A lock dies with its process, so a crashed worker frees its slots.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import tempfile
import threading
import time
from typing import Iterator

POLL_SECONDS = 0.005


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
    self._local = threading.Lock()

  @contextlib.contextmanager
  def held(self) -> Iterator[int]:
    """Waits for a free slot and holds it; yields its number."""
    while True:
      for slot in range(self._count):
        fd = os.open(f"{self._prefix}.{slot}", os.O_CREAT | os.O_RDWR, 0o600)
        try:
          fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
          os.close(fd)
          continue
        try:
          yield slot
        finally:
          fcntl.flock(fd, fcntl.LOCK_UN)
          os.close(fd)
        return
      time.sleep(POLL_SECONDS)
