"""When a failed fetch is tried again, and after how long: pure functions.

Only what can heal is retried: connection errors, timeouts, and the
statuses 429, 500, 502, 503 and 504. The wait is exponential with full
jitter (base 0.5 s, doubling), or the server's ``Retry-After`` (seconds or
an HTTP date) when it gives one, capped at ``--retry_after_cap`` (60 s).
"""
from __future__ import annotations

import email.utils
import random
from typing import Optional

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
BASE_SECONDS = 0.5


def retryable_status(status: int) -> bool:
  return status in RETRY_STATUSES


def backoff(attempt: int, rng: random.Random, cap: float) -> float:
  """Full-jitter exponential backoff for retry ``attempt`` (1-based)."""
  return rng.uniform(0, min(cap, BASE_SECONDS * 2 ** (attempt - 1)))


def retry_after(value: Optional[str], now: float, cap: float
                ) -> Optional[float]:
  """Seconds to wait from a ``Retry-After`` header (delta seconds or an
  HTTP date), capped; None when absent or unreadable."""
  if not value:
    return None
  value = value.strip()
  if value.isdigit():
    return min(float(value), cap)
  try:
    when = email.utils.parsedate_to_datetime(value).timestamp()
  except (TypeError, ValueError, IndexError, OverflowError):
    return None
  return max(0.0, min(when - now, cap))
