"""Talking to a GCS emulator (``STORAGE_EMULATOR_HOST``) without the
credential search.

Beam's GCS client looks for Google credentials with four retries and
exponential back-off (about 25 s) before it falls back to an anonymous
client, once per process. An emulator takes no credentials, so when
``STORAGE_EMULATOR_HOST`` is set the fall-back is taken at once; against real
GCS nothing changes.

The one hook: ``read.storage`` calls it before it opens a file (so worker
processes skip the search too), the launcher before it plans, and the model
fetch before it copies a gs:// model.
"""
from __future__ import annotations

import os

EMULATOR_ENV = "STORAGE_EMULATOR_HOST"


def emulator_host() -> str:
  return os.environ.get(EMULATOR_ENV, "")


def skip_credential_search() -> bool:
  """Returns True when an emulator is configured and the search is skipped."""
  if not emulator_host():
    return False
  try:
    from apache_beam.internal.gcp import auth  # pylint: disable=g-import-not-at-top
  except ImportError:
    return False
  credentials = auth._Credentials  # pylint: disable=protected-access
  with credentials._credentials_lock:  # pylint: disable=protected-access
    if not credentials._credentials_init:  # pylint: disable=protected-access
      # What Beam settles on after its search fails: anonymous access.
      credentials._credentials = None  # pylint: disable=protected-access
      credentials._credentials_init = True  # pylint: disable=protected-access
  return True
