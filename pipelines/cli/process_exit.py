"""Ending a command-line run without the interpreter's teardown.

When a job is done, Python's own finalization (tearing down the modules and
objects of TensorFlow, Beam and gRPC, then C++ static destructors) takes
1.2 to 1.4 s on this machine (``benchmarks/startup.py``, "interpreter
exit"): time the user waits after the summary is printed, for nothing.
:func:`exit_now` runs the ``atexit`` handlers (thread-pool joins, logging
shutdown, multiprocessing clean-up), flushes both streams and ends the
process without that teardown.

Only for a ``__main__`` block: a library function or a test must never end
the process.
"""
from __future__ import annotations

import atexit
import os
import sys
from typing import NoReturn


def exit_now(status: int) -> NoReturn:
  """Ends the process with ``status`` after atexit handlers and a flush."""
  try:
    atexit._run_exitfuncs()  # pylint: disable=protected-access
  finally:
    for stream in (sys.stdout, sys.stderr):
      try:
        stream.flush()
      except (OSError, ValueError):
        pass
    os._exit(status)  # pylint: disable=protected-access
