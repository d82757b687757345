"""The in-process runner's data channel: flushed at element boundaries only.

Beam 2.77's FnApiRunner in ``multi_threading`` mode (our local default) runs
its SDK workers in this process and talks to them over gRPC with a timed
flush: ``worker_handlers.DATA_BUFFER_TIME_LIMIT_MS``, 1,000 ms, and no
pipeline option reaches it in that mode. A periodic thread sends whatever
each output stream holds every second. It takes the stream's flush lock,
but the step encoding an element into the stream takes none, so when the
encoder runs Python (pickling an element's NamedTuple) the thread switch can
land in the middle of an element: the runner stores the two halves as two
chunks, and the next stage decodes each chunk on its own.

Decoding from the middle of an element reads one of its bytes as the count
of the element's windows. The global window's coder reads no bytes, so that
loop appends the global window billions of times without consuming input:
one thread holds the GIL in ``DataInputOperation.process_encoded`` and
memory grows about 0.4 GB/s until the kernel kills the job (issue 34: the
default job on 50,000 images). Only a bundle that emits for over a second
can meet the flush, which is why it began at about that size (listing
50,000 files), and why it came and went with thread timing.

Size-based flushing stays (10 MB, always between elements, in the
emitting thread), so data still reaches the runner in bounded chunks. The
timed flush only lowers latency for streaming runners; the FnApiRunner
reads a stage's outputs once its bundle ends.
"""
from __future__ import annotations

from apache_beam.runners.portability.fn_api_runner import worker_handlers


def flush_whole_elements_only() -> None:
  """In-process SDK workers started from now on flush by size only (0
  turns the timed flush off: ``config.get(...) or 0``)."""
  worker_handlers.DATA_BUFFER_TIME_LIMIT_MS = 0
