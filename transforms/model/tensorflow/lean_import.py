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

import contextlib
import os
import sys
import types

# What tensorflow/__init__.py imports eagerly, in both Keras modes.
_EAGER_KERAS_IMPORTS = ("keras.src.optimizers", "tf_keras.src.optimizers")


_QUIET = False


def import_quietly() -> None:
  """Makes the coming import of TensorFlow silent on file descriptor 2: it
  writes C++ log lines there while it is imported, before
  ``TF_CPP_MIN_LOG_LEVEL`` or absl can be consulted."""
  global _QUIET
  _QUIET = True


@contextlib.contextmanager
def stderr_silenced():
  """Redirects fd 2 (C/C++ writers included) to /dev/null for the block."""
  sys.stderr.flush()
  saved = os.dup(2)
  devnull = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(devnull, 2)
    yield
  finally:
    sys.stderr.flush()
    os.dup2(saved, 2)
    os.close(saved)
    os.close(devnull)


def import_tensorflow() -> types.ModuleType:
  """Imports (once) and returns the ``tensorflow`` module, Keras left lazy."""
  loaded = sys.modules.get("tensorflow")
  if loaded is not None:
    return loaded
  if _QUIET:
    with stderr_silenced():
      tensorflow = _import()
      # Device discovery logs (e.g. a failed cuInit) happen on first use.
      tensorflow.config.list_logical_devices()
    return tensorflow
  return _import()


def _import() -> types.ModuleType:
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
