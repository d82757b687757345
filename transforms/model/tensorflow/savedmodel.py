"""TensorFlow engine: loading a resolved SavedModel directory (TF2, or TF1
Hub format with its empty tag set)."""
from __future__ import annotations

import os
from typing import List, Optional

from transforms.model import description
from transforms.model.tensorflow import lean_import as tf_import

ModelError = description.ModelError


def is_tf1_hub_module(path: str) -> bool:
  tf = tf_import.import_tensorflow()
  return tf.io.gfile.exists(os.path.join(path, "tfhub_module.pb"))


def load_saved_model(path: str, tf1_hub: bool):
  """Loads a SavedModel the way ``hub.load`` does (empty tags for TF1 Hub).

  ``tf.saved_model.load`` directly: importing ``tensorflow_hub`` (which
  imports ``tf_keras``) costs about 0.7 s of start-up, and a resolved path
  is all ``hub.load`` would add. ``tensorflow_hub`` is still what downloads
  remote handles (:func:`resolve_model_path`).
  """
  tf = tf_import.import_tensorflow()
  tags: Optional[List[str]] = [] if tf1_hub else None
  try:
    return tf.saved_model.load(path, tags=tags)
  except Exception as e:  # pylint: disable=broad-except
    raise ModelError(f"could not load SavedModel at {path!r}: "
                     f"{type(e).__name__}: {e}") from e
