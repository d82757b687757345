"""Keeps TensorFlow's and Beam's start-up noise out of the default output.

TensorFlow 2.21 writes C++ log lines to stderr while it is imported, before
``TF_CPP_MIN_LOG_LEVEL`` or absl can be consulted, so the import itself runs
with file descriptor 2 pointed at /dev/null. ``--verbose`` skips all of this.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings

_NOISY_LOGGERS = ("apache_beam", "tensorflow", "absl", "h5py", "keras")
# Beam's RunInference logs this on every batch when torch is not installed
# (its model_manager imports torch, and the failed import also hides the
# resource module); it says nothing about our job.
_DROPPED_MESSAGES = ("Resource module is not available",)


class _DropKnownNoise(logging.Filter):

  def filter(self, record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_DROPPED_MESSAGES)


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


def configure(verbose: bool) -> None:
  """Sets up logging for a command-line run and imports TF quietly."""
  logging.basicConfig(level=logging.INFO, format="%(message)s",
                      stream=sys.stderr)
  if verbose:
    return
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  logging.getLogger().addFilter(_DropKnownNoise())
  warnings.filterwarnings("ignore")
  for name in _NOISY_LOGGERS:
    logging.getLogger(name).setLevel(logging.ERROR)
  with stderr_silenced():
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    import tensorflow_hub  # noqa: F401  # pylint: disable=unused-import
    # Device discovery logs (e.g. a failed cuInit) happen on first use.
    tf.config.list_logical_devices()
  logging.getLogger("tensorflow").setLevel(logging.ERROR)


def wants_verbose(argv) -> bool:
  return "--verbose" in list(argv or [])
