"""URLs with credentials in them (``user:pass@host``).

Keys are written into the results, so a row whose URL carries a secret is
never keyed by its URL: the launch check refuses a job whose first rows
hold one (``read.inputs_check``), and in the job such a row fails alone as
``credentials_in_url``, keyed by its file and row. No message ever copies
the URL.
"""
from __future__ import annotations

import urllib.parse


def has_credentials(uri: object) -> bool:
  """A URL with ``user:pass@`` (or ``user@``) in it; False for anything
  that does not parse as one."""
  if not isinstance(uri, str) or "@" not in uri or "://" not in uri:
    return False
  try:
    parts = urllib.parse.urlsplit(uri)
    return parts.username is not None or parts.password is not None
  except ValueError:
    return False


def refusal(where: str) -> str:
  """The message for a URL with credentials found at ``where``."""
  return (f"{where} is a URL with credentials in it (user:pass@); refused, "
          "since keys are written into the results: put the secret "
          "elsewhere")
