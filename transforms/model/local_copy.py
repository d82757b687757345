"""SavedModels on Beam filesystems (``gs://``, ...) copied to a local folder.

TensorFlow's own ``gs://`` support reads real GCS only: not a GCS emulator,
not Beam's other filesystems, and with its own credential search. Copying the
model directory through Beam's ``FileSystems`` gives the model the same
access as the inputs and outputs. Each process copies a model once; the copy
is published with an atomic rename, so processes of one machine that fetch
at once end with one complete copy.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from typing import Optional

from apache_beam.io.filesystems import FileSystems

from transforms.core import storage_emulator

_COMPLETE = ".complete"


def is_beam_path(handle: str) -> bool:
  """A path on a non-local Beam filesystem (``gs://bucket/model``)."""
  scheme = handle.split("://", 1)[0] if "://" in handle else ""
  return bool(scheme) and scheme not in ("http", "https", "file")


def local_copy(handle: str, cache_root: Optional[str] = None) -> str:
  """Copies the directory ``handle`` (once) and returns the local folder.

  Raises:
    FileNotFoundError: ``handle`` holds no files.
  """
  storage_emulator.skip_credential_search()
  root = cache_root or os.path.join(tempfile.gettempdir(),
                                    "hub_image_beam_models")
  dest = os.path.join(root, hashlib.sha1(handle.encode()).hexdigest()[:16])
  if os.path.exists(os.path.join(dest, _COMPLETE)):
    return dest
  prefix = handle.rstrip("/") + "/"
  matches = FileSystems.match([prefix + "**"])[0].metadata_list
  if not matches:
    raise FileNotFoundError(f"{handle!r} holds no files")
  os.makedirs(root, exist_ok=True)
  staging = tempfile.mkdtemp(dir=root, prefix=".fetch-")
  try:
    for metadata in matches:
      relative = metadata.path[len(prefix):]
      target = os.path.join(staging, *relative.split("/"))
      os.makedirs(os.path.dirname(target), exist_ok=True)
      with FileSystems.open(metadata.path) as source, open(target,
                                                           "wb") as out:
        shutil.copyfileobj(source, out)
    open(os.path.join(staging, _COMPLETE), "w").close()
    try:
      os.rename(staging, dest)
    except OSError:
      if not os.path.exists(os.path.join(dest, _COMPLETE)):
        raise
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return dest
