"""The decode step: inputs are batched to the model's batch bounds, and one
thin DoFn reads and decodes each batch (:mod:`batch`), in its threads."""
from __future__ import annotations

import collections
from concurrent import futures
from typing import Deque, Optional, Sequence, Tuple

import apache_beam as beam

from transforms.core import ahead
from transforms.core import counters
from transforms.core import elements
from transforms.core import failures
from transforms.decode import batch as batch_lib
from transforms.decode import settings as decode_settings


class DecodeBatchDoFn(beam.DoFn):
  """[ImageInput, ...] -> DecodedBatch, and each failed input's Failure
  (stage ``read`` or ``decode``) on the ``failures`` output.

  Counts every input it takes (``inputs``) and every image it decodes.
  With ``settings.threads`` > 0 a batch is read and decoded in a thread
  pool, and a batch is emitted only once the next one is submitted, so
  reading and decoding overlap the model that runs downstream in this same
  thread (Pillow, file reads and both engines release the GIL). Output
  order and every counter stay on the calling thread.
  """

  def __init__(self, settings: decode_settings.DecodeSettings,
               size: Tuple[int, int]):
    """Args:
      settings: the decode stage's settings.
      size: (height, width) the model takes (``resolve.ModelFacts``).
    """
    self._settings = settings
    self._size: Tuple[int, int] = tuple(size)  # type: ignore[assignment]
    self._inputs = counters.counter(counters.INPUTS)
    self._decoded = counters.counter(counters.DECODED)
    self._pool: Optional[futures.ThreadPoolExecutor] = None
    self._ahead: Optional[ahead.RunAhead] = None

  def setup(self):
    if self._settings.threads:
      self._pool = futures.ThreadPoolExecutor(
          self._settings.threads, thread_name_prefix="decode")
      self._ahead = ahead.RunAhead(self._pool, self._load)
    self._where: Deque[ahead.Where] = collections.deque()

  def teardown(self):
    if self._pool is not None:
      self._pool.shutdown(wait=False, cancel_futures=True)

  def _load(self, item: elements.ImageInput) -> batch_lib.Outcome:
    return batch_lib.load_pixels(item, self._size, self._settings)

  def _emit(self, items, outcomes):
    decoded, failed = batch_lib.assemble(items, outcomes)
    for failure in failed:
      yield failures.tagged(failure)
    if decoded is not None:
      self._decoded.inc(len(decoded.image_keys))
      yield decoded

  def process(self, items: Sequence[elements.ImageInput],
              timestamp=beam.DoFn.TimestampParam,
              window=beam.DoFn.WindowParam):
    self._inputs.inc(len(items))
    if self._ahead is None:
      yield from self._emit(items, [self._load(item) for item in items])
      return
    self._ahead.submit(items)
    # A batch leaves after later ones came in: it keeps its own window.
    current = ahead.where_of(timestamp, window)
    self._where.append(current)
    for done, outcomes in self._ahead.ready():
      where = self._where.popleft()
      for output in self._emit(done, outcomes):
        yield ahead.in_window(output, where, current)

  def finish_bundle(self):
    if self._ahead is None:
      return
    for done, outcomes in self._ahead.drain():
      where = self._where.popleft()
      for output in self._emit(done, outcomes):
        yield ahead.in_window(output, where)


class DecodeImages(beam.PTransform):
  """ImageInput -> ``images`` (DecodedBatch) and ``failures`` (Failure).

  Batches are formed here, between ``min`` and ``max`` of the model's batch
  bounds (Beam's ``BatchElements``, adaptive between them), so that from
  here to the rows an element is a batch.
  """

  def __init__(self, settings: decode_settings.DecodeSettings,
               size: Tuple[int, int], batch_bounds: Tuple[int, int]):
    """Args:
      settings: the decode stage's settings.
      size: (height, width) the model takes.
      batch_bounds: (smallest, largest) batch, the model stage's flags.
    """
    super().__init__()
    self._settings, self._size = settings, size
    self._batch_bounds = batch_bounds

  def expand(self, inputs):
    low, high = self._batch_bounds
    return (inputs
            | "Batch" >> beam.BatchElements(min_batch_size=low,
                                            max_batch_size=high)
            | "ReadAndDecode" >> beam.ParDo(DecodeBatchDoFn(
                self._settings, self._size)).with_outputs(
                    failures.FAILURES_TAG, main="images"))
