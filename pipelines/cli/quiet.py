"""Keeps TensorFlow's and Beam's start-up noise out of the default output.

TensorFlow 2.21 writes C++ log lines to stderr while it is imported, before
``TF_CPP_MIN_LOG_LEVEL`` or absl can be consulted, so the import itself runs
with file descriptor 2 pointed at /dev/null. Worker processes that the local
runner starts (``--direct_running_mode multi_processing``) inherit file
descriptor 2 and import TensorFlow themselves, so while the job runs, fd 2 is
a pipe whose lines are passed on except TensorFlow's C++ info and warning
lines (:func:`stderr_filtered`). ``--verbose`` (on the command line or in
the ``--config`` file, :func:`wants_verbose`) skips all of this.
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import threading
import warnings
from typing import Optional

from transforms.model.tensorflow import lean_import as tf_import

_NOISY_LOGGERS = ("apache_beam", "tensorflow", "absl", "h5py", "keras",
                  "faiss")  # faiss: which SIMD build it loaded
# Beam's RunInference logs this on every batch when torch is not installed
# (its model_manager imports torch, and the failed import also hides the
# resource module); it says nothing about our job.
_DROPPED_MESSAGES = ("Resource module is not available",
                     "Runner defaulting to pickling library")


# Beam lines a scheduler needs even when Beam's logging is hidden: Airflow's
# Dataflow hooks find the job id in this one.
_KEPT_BEAM_MESSAGES = ("Created job with id:",)
_DATAFLOW_CLIENT_LOGGER = "apache_beam.runners.dataflow.internal.apiclient"


class _KeepOnly(logging.Filter):

  def __init__(self, prefixes):
    super().__init__()
    self._prefixes = tuple(prefixes)

  def filter(self, record: logging.LogRecord) -> bool:
    return str(record.msg).startswith(self._prefixes)


class _DropKnownNoise(logging.Filter):

  def filter(self, record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_DROPPED_MESSAGES)


# absl's C++ log prefix at INFO or WARNING ("I0000 00:00:17.95 123 port.cc:153]
# ..."), and the line absl prints before its own set-up. ERROR lines pass.
# Also the progress lines of `python -m build`, which Beam runs to stage the
# sdist for Dataflow.
_CPP_NOISE = re.compile(
    rb"^(?:[IW]\d{4} [\d:.]+\s+\d+ [\w.+-]+:\d+\] |"
    rb"WARNING: All log messages before absl::InitializeLog\(\)|"
    rb"\* (?:Getting build dependencies for sdist|Building sdist)\.\.\.$)")


def is_cpp_noise(line: bytes) -> bool:
  return bool(_CPP_NOISE.match(line))


_DRAIN_SECONDS = 1.0


@contextlib.contextmanager
def stderr_filtered():
  """Points fd 2 (this process's and the children it starts) at a pipe and
  passes every line on to the real stderr except TensorFlow's C++ noise.

  Children that outlive the block keep writing into the pipe; their lines
  are still filtered and passed on.
  """
  sys.stderr.flush()
  real = os.dup(2)
  read_end, write_end = os.pipe()
  os.dup2(write_end, 2)
  os.close(write_end)

  def pump():
    with os.fdopen(read_end, "rb") as lines:
      for line in lines:
        if not is_cpp_noise(line):
          os.write(real, line)

  thread = threading.Thread(target=pump, name="stderr-filter", daemon=True)
  thread.start()
  try:
    yield
  finally:
    sys.stderr.flush()
    os.dup2(real, 2)  # Our own end of the pipe closes here.
    # Pass on what is still in the pipe before the caller goes on (and
    # perhaps ends the process); a child that outlives us keeps it open.
    thread.join(timeout=_DRAIN_SECONDS)


def configure(verbose: bool, tensorflow: bool = True) -> None:
  """Sets up logging for a command-line run and imports TF quietly.

  Args:
    verbose: leave every log line in.
    tensorflow: import TensorFlow now, silenced; False for a command that
      may not need it (``embed``: a job whose model facts are cached runs on
      OpenVINO without it), which then imports it silenced when it does.
  """
  logging.basicConfig(level=logging.INFO, format="%(message)s",
                      stream=sys.stderr)
  if verbose:
    return
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
  logging.getLogger().addFilter(_DropKnownNoise())
  warnings.filterwarnings("ignore")
  for name in _NOISY_LOGGERS:
    logging.getLogger(name).setLevel(logging.ERROR)
  client = logging.getLogger(_DATAFLOW_CLIENT_LOGGER)
  client.setLevel(logging.INFO)
  client.addFilter(_KeepOnly(_KEPT_BEAM_MESSAGES))
  tf_import.import_quietly()
  if tensorflow:
    tf_import.import_tensorflow()
  logging.getLogger("tensorflow").setLevel(logging.ERROR)


_BOOL_WORDS = {"true": True, "1": True, "yes": True,
               "false": False, "0": False, "no": False}


def wants_verbose(argv) -> bool:
  """Whether the command line asks for verbose output, read before anything
  is imported: ``--verbose``, ``--verbose=true|false``, ``--verbose
  true|false`` (the last one given wins), else ``verbose:`` in the
  ``--config`` file. A bad value or file is left for the full check of the
  flags to report; here it counts as not verbose."""
  args = [str(a) for a in argv or []]
  found: Optional[bool] = None
  config: Optional[str] = None
  for i, arg in enumerate(args):
    following = args[i + 1] if i + 1 < len(args) else ""
    if arg == "--verbose":
      found = _BOOL_WORDS.get(following.lower(), True)
    elif arg.startswith("--verbose="):
      found = _BOOL_WORDS.get(arg.split("=", 1)[1].lower(), False)
    elif arg == "--config":
      config = following
    elif arg.startswith("--config="):
      config = arg.split("=", 1)[1]
  if found is not None:
    return found
  if config:
    import yaml  # pylint: disable=g-import-not-at-top
    try:
      with open(config, encoding="utf-8") as f:
        values = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
      return False
    if isinstance(values, dict):
      value = values.get("verbose", False)
      return value is True or _BOOL_WORDS.get(str(value).lower(), False)
  return False
