"""Model handles: a local or gs:// SavedModel directory, or a TF Hub /
Kaggle Models handle, resolved to a local directory.

Remote handles (``https://tfhub.dev/...``, ``https://www.kaggle.com/models/
...``) go through ``tensorflow_hub``'s resolver, which reads
``TFHUB_CACHE_DIR`` first, so a pre-filled cache works offline.
"""
from __future__ import annotations

import hashlib
import os

from transforms.model import description
from transforms.model import local_copy
from transforms.model.tensorflow import lean_import as tf_import

ModelError = description.ModelError


def folder_digest(path: str) -> str:
  """sha256 of every file's relative path and bytes under ``path`` (a
  SavedModel's content: what results are computed with)."""
  digest = hashlib.sha256()
  for root, dirs, files in os.walk(path, followlinks=True):
    dirs.sort()
    for name in sorted(files):
      full = os.path.join(root, name)
      digest.update(os.path.relpath(full, path).encode() + b"\0")
      with open(full, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
          digest.update(block)
  return digest.hexdigest()


def is_remote_handle(handle: str) -> bool:
  return handle.startswith(("http://", "https://")) or handle.startswith(
      ("tfhub.dev/", "kaggle.com/", "www.kaggle.com/"))


def resolve_model_path(handle: str) -> str:
  """Checks a local or gs:// model directory, or downloads a TF Hub handle.

  Raises:
    ModelError: the directory is missing or holds no SavedModel.
  """
  tf = tf_import.import_tensorflow()
  if is_remote_handle(handle):
    import tensorflow_hub as hub  # pylint: disable=g-import-not-at-top
    try:
      return hub.resolve(handle)
    except Exception as e:  # pylint: disable=broad-except
      raise ModelError(f"could not download model {handle!r}: {e}") from e
  if local_copy.is_beam_path(handle):
    try:
      handle = local_copy.local_copy(handle)
    except (OSError, ValueError) as e:
      raise ModelError(
          f"--model: expected a SavedModel directory, but {handle!r} cannot "
          f"be read: {e}") from e
  if not tf.io.gfile.isdir(handle):
    raise ModelError(
        f"--model: expected a SavedModel directory, but {handle!r} does not "
        "exist or is not a directory")
  if not any(tf.io.gfile.exists(os.path.join(handle, name))
             for name in ("saved_model.pb", "saved_model.pbtxt")):
    found = sorted(tf.io.gfile.listdir(handle))[:10]
    raise ModelError(
        f"--model: expected a SavedModel (saved_model.pb) in {handle!r}, "
        f"found {found}")
  return handle
