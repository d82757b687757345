"""The fetch stage's settings and flags (defaults measured: README, "Images
behind URLs")."""
from __future__ import annotations

import dataclasses
from typing import Tuple

from transforms.core import flags
from transforms.fetch import opt_out

TOOL = "hub-image-beam"
VERSION = "0.1.0"


@dataclasses.dataclass(frozen=True)
class FetchSettings:
  """Attributes mirror the flags of :func:`add_flags`; timeouts in seconds,
  ``concurrency`` and ``per_host_concurrency`` per worker machine."""
  concurrency: int = 64
  per_host_concurrency: int = 16
  connect_timeout: float = 10.0
  read_timeout: float = 30.0
  total_timeout: float = 60.0
  max_bytes: int = 50 * 2**20
  max_redirects: int = 5
  retries: int = 3
  retry_after_cap: float = 60.0
  user_agent: str = f"{TOOL}/{VERSION}"
  disallowed_directives: Tuple[str, ...] = opt_out.DEFAULT_DIRECTIVES
  respect_robots_txt: bool = False
  allow_private_addresses: bool = False


_D = FetchSettings()


def add_flags(parser) -> None:
  add = parser.add_argument
  add("--fetch_concurrency", type=int, default=_D.concurrency,
      help="http(s): requests in flight per worker machine (all its "
      "processes together).")
  add("--per_host_concurrency", type=int, default=_D.per_host_concurrency,
      help="http(s): requests in flight to one host per worker machine.")
  add("--fetch_timeout", default=f"{_D.connect_timeout:g},"
      f"{_D.read_timeout:g},{_D.total_timeout:g}",
      help="http(s): CONNECT,READ,TOTAL seconds (total: the whole request, "
      "body included, so a trickling body is cut off).")
  add("--max_bytes", type=int, default=_D.max_bytes,
      help="http(s): largest response body read (streamed; stops beyond).")
  add("--max_redirects", type=int, default=_D.max_redirects)
  add("--fetch_retries", type=int, default=_D.retries,
      help="http(s): retries of what can heal (connection errors, timeouts, "
      "429, 500, 502, 503, 504), with backoff and Retry-After.")
  add("--disallowed_header_directives",
      default=",".join(_D.disallowed_directives),
      help="http(s): X-Robots-Tag directives that opt an image out "
      "('' honours none).")
  add("--respect_robots_txt", action="store_true",
      help="http(s): fetch each host's robots.txt once and obey it.")
  add("--allow_private_addresses", action="store_true",
      help="http(s): allow loopback, private and link-local addresses "
      "(tests, on-premise servers); cloud metadata addresses stay "
      "refused.")


def from_flags(o, contact: str = "") -> FetchSettings:
  """Raises flags.ConfigError for a bad value.

  Args:
    o: the parsed flags.
    contact: Beam's own ``--user_agent`` (``SetupOptions``: "describing the
      pipeline to external services"), added to ours as a contact.
  """
  parts = flags.csv_values(o.fetch_timeout)
  try:
    connect, read, total = (float(p) for p in parts)
  except ValueError:
    raise flags.ConfigError(
        "--fetch_timeout: expected CONNECT,READ,TOTAL seconds, found "
        f"{o.fetch_timeout!r}") from None
  if min(connect, read, total) <= 0:
    raise flags.ConfigError(f"--fetch_timeout: expected positive seconds, "
                            f"found {o.fetch_timeout!r}")
  for name in ("fetch_concurrency", "per_host_concurrency", "max_bytes"):
    flags.positive(name, getattr(o, name))
  if o.max_redirects < 0 or o.fetch_retries < 0:
    raise flags.ConfigError("--max_redirects / --fetch_retries: expected 0 "
                            f"or more, found {o.max_redirects} / "
                            f"{o.fetch_retries}")
  agent = _D.user_agent + (f" (+{contact})" if contact else "")
  return FetchSettings(
      concurrency=o.fetch_concurrency,
      per_host_concurrency=min(o.per_host_concurrency, o.fetch_concurrency),
      connect_timeout=connect, read_timeout=read, total_timeout=total,
      max_bytes=o.max_bytes, max_redirects=o.max_redirects,
      retries=o.fetch_retries, user_agent=agent,
      disallowed_directives=flags.csv_values(o.disallowed_header_directives),
      respect_robots_txt=bool(o.respect_robots_txt),
      allow_private_addresses=bool(o.allow_private_addresses))
