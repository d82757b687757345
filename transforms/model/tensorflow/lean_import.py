"""Importing TensorFlow without the Keras it loads eagerly.

``import tensorflow`` (2.21) ends by importing ``keras.src.optimizers`` (or
``tf_keras.src.optimizers`` under ``TF_USE_LEGACY_KERAS``) "so that
registrations happen at load time", inside ``try/except ImportError``. That
pulls in Keras 3 and, through its data adapters, pandas: about 0.4 to 0.9 s
of every process start here (benchmarks/README.md, "Where the fixed start-up
goes"). Loading a SavedModel with ``tf.saved_model.load`` and calling it
needs none of it.

:func:`import_tensorflow` makes that one import fail for the duration of
``import tensorflow`` (a ``None`` entry in ``sys.modules`` is Python's way to
say "not importable") and removes the entry afterwards, so anything that
imports Keras later, including ``tf.keras``, still gets it in full.
"""
from __future__ import annotations

import sys
import types

# What tensorflow/__init__.py imports eagerly, in both Keras modes.
_EAGER_KERAS_IMPORTS = ("keras.src.optimizers", "tf_keras.src.optimizers")


def import_tensorflow() -> types.ModuleType:
  """Imports (once) and returns the ``tensorflow`` module, Keras left lazy."""
  loaded = sys.modules.get("tensorflow")
  if loaded is not None:
    return loaded
  blocked = [name for name in _EAGER_KERAS_IMPORTS if name not in sys.modules]
  for name in blocked:
    sys.modules[name] = None  # type: ignore[assignment]
  try:
    import tensorflow  # pylint: disable=g-import-not-at-top
  finally:
    for name in blocked:
      if name in sys.modules and sys.modules[name] is None:
        del sys.modules[name]
  return tensorflow
