"""What an http(s) URL to fetch must be, decided in one place.

URL lists come from the open web, so a line may be malformed, a local path,
a ``gs://`` object, or ``javascript:``. Only ``http`` and ``https`` URLs
with a host are ever fetched; nothing else is opened, read or looked up
(a local path would read the worker's disk, a ``gs://`` URL a bucket with
the worker's own credentials). A refusal's message describes the line and
never copies it: not its scheme, host or path, which the list's author
controls (the list and line number say where it is).
"""
from __future__ import annotations

import urllib.parse
from typing import NamedTuple, Optional

from transforms.core import credentials
from transforms.core import failures

SCHEMES = ("http", "https")
# Schemes named in a refusal by a fixed phrase of ours (not copied).
_SCHEME_KINDS = {
    "gs": "a Cloud Storage URL (gs://), which would be read with the "
          "workers' own credentials",
    "s3": "an S3 URL (s3://), which would be read with the workers' own "
          "credentials",
    "file": "a local file URL (file:)",
    "ftp": "an FTP URL",
    "data": "a data: URL",
    "javascript": "a javascript: URL",
}


class Refusal(NamedTuple):
  reason: str   # failures.REASON_BAD_URL, _UNSUPPORTED_URL or _CREDENTIALS
  message: str


def refusal(url: str) -> Optional[Refusal]:
  """Why ``url`` is never fetched, or None for an http(s) URL with a
  host. The message reads after "... is": "line 3 of urls.txt is ..."."""
  # A plain space is let through (urllib3 percent-encodes it in a path, as
  # browsers do: scraped lists hold such URLs); tabs, line breaks and other
  # control characters are not.
  if not url or any(c != " " and (c.isspace() or ord(c) < 32 or ord(c) == 127)
                    for c in url):
    return Refusal(failures.REASON_BAD_URL,
                   "not a URL: it contains control characters or line breaks")
  if "\ufffd" in url:
    return Refusal(failures.REASON_BAD_URL,
                   "not a URL: it is not valid UTF-8 text")
  try:
    parts = urllib.parse.urlsplit(url)
    hostname = parts.hostname
    _ = parts.port  # raises for a port that is not a number in range
  except ValueError:
    return Refusal(failures.REASON_BAD_URL,
                   "not a valid URL: its host or port is malformed")
  scheme = parts.scheme.lower()
  if scheme not in SCHEMES:
    if not scheme:
      kind = "a path or name without a scheme"
    else:
      kind = _SCHEME_KINDS.get(scheme, "a URL of another scheme")
    return Refusal(failures.REASON_UNSUPPORTED_URL,
                   f"{kind}: only http and https URLs are fetched")
  if credentials.has_credentials(url):
    return Refusal(failures.REASON_CREDENTIALS,
                   "a URL with credentials in it (user:pass@), which are "
                   "refused")
  if not hostname:
    return Refusal(failures.REASON_UNSUPPORTED_URL, "a URL without a host")
  return None


def host_of(url: str) -> str:
  """The URL's host, or ``?`` when it has none or does not parse."""
  try:
    return urllib.parse.urlsplit(url).hostname or "?"
  except ValueError:
    return "?"
