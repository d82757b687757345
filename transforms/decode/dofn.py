"""The decode step: a thin DoFn around :func:`resize.prepare_image`."""
from __future__ import annotations

import collections
from concurrent import futures
from typing import Deque, Tuple

import apache_beam as beam
from apache_beam.transforms import window
from apache_beam.utils import timestamp
from apache_beam.utils import windowed_value

from transforms.core import counters
from transforms.core import elements
from transforms.core import failures
from transforms.decode import resize
from transforms.decode import settings as decode_settings


class DecodeImageDoFn(beam.DoFn):
  """EncodedImage -> (ImageKey, uint8 [h, w, 3]), or a decode failure.

  With ``settings.threads`` > 0, images are decoded in a thread pool up to
  ``threads * PREFETCH_PER_THREAD`` elements ahead of what has been emitted,
  so decoding overlaps with the model that runs downstream in this same
  thread (Pillow and TensorFlow both release the GIL). Output order and
  every counter stay on the calling thread.
  """

  PREFETCH_PER_THREAD = 32

  def __init__(self, settings: decode_settings.DecodeSettings,
               size: Tuple[int, int]):
    """Args:
      settings: the decode stage's settings.
      size: (height, width) the model takes (``resolve.ModelFacts``).
    """
    self._settings = settings
    self._size: Tuple[int, int] = tuple(size)  # type: ignore[assignment]
    self._decoded = counters.counter(counters.DECODED)
    self._pool = None
    self._pending: Deque[Tuple[elements.ImageKey, futures.Future]] = (
        collections.deque())

  def setup(self):
    if self._settings.threads:
      self._pool = futures.ThreadPoolExecutor(
          self._settings.threads, thread_name_prefix="decode")

  def teardown(self):
    if self._pool is not None:
      self._pool.shutdown(wait=False, cancel_futures=True)

  def _decode(self, data: bytes):
    s = self._settings
    try:
      return resize.prepare_image(data, self._size, s.resize, s.max_pixels,
                                  s.jpeg_draft)
    except failures.ImageFailure as e:
      return e

  def _emit(self, image_key: elements.ImageKey, outcome):
    if isinstance(outcome, failures.ImageFailure):
      return failures.failure_from(image_key.key, failures.STAGE_DECODE,
                                   outcome)
    self._decoded.inc()
    return image_key, outcome

  def process(self, element: elements.EncodedImage):
    if self._pool is None:
      yield self._emit(element.image_key, self._decode(element.data))
      return
    self._pending.append((element.image_key,
                          self._pool.submit(self._decode, element.data)))
    while (len(self._pending) >
           self._settings.threads * self.PREFETCH_PER_THREAD):
      image_key, future = self._pending.popleft()
      yield self._emit(image_key, future.result())

  def finish_bundle(self):
    while self._pending:
      image_key, future = self._pending.popleft()
      output = self._emit(image_key, future.result())
      if isinstance(output, beam.pvalue.TaggedOutput):
        yield beam.pvalue.TaggedOutput(output.tag, _global(output.value))
      else:
        yield _global(output)


def _global(value):
  return windowed_value.WindowedValue(value, timestamp.MIN_TIMESTAMP,
                                      [window.GlobalWindow()])


def decode_images(settings: decode_settings.DecodeSettings,
                  size: Tuple[int, int]) -> beam.ParDo:
  """The decode step with its ``images`` and ``failures`` outputs."""
  return beam.ParDo(DecodeImageDoFn(settings, size)).with_outputs(
      failures.FAILURES_TAG, main="images")
