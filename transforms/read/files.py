"""Source: image files matched by globs on any Beam filesystem.

Each image's key is its full path. A file matched by several patterns is read
once, and a file whose path has a result in ``--skip_existing`` is not read
at all. A file that cannot be read becomes a ``read`` failure.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import apache_beam as beam

from transforms.core import elements
from transforms.core import failures
from transforms.read import keep_new
from transforms.read import storage


class ReadImageDoFn(beam.DoFn):
  """(ImageKey, uri) -> EncodedImage, or a read failure."""

  def process(self, element: Tuple[elements.ImageKey, str]):
    image_key, uri = element
    try:
      data = storage.read_bytes(uri)
    except Exception as e:  # pylint: disable=broad-except
      yield failures.failure_output(
          image_key.key, failures.STAGE_READ, failures.REASON_READ_ERROR,
          f"cannot read {uri}: {type(e).__name__}: {e}")
      return
    yield elements.EncodedImage(image_key, data)


def read_images() -> beam.ParDo:
  return beam.ParDo(ReadImageDoFn()).with_outputs(failures.FAILURES_TAG,
                                                  main="images")


class ReadImageFiles(beam.PTransform):
  """Globs -> EncodedImage (main output) and Failure (``failures`` output).

  Paths whose key (the path) is in ``done`` are not read; the join by key
  also spreads reading and decoding across workers.
  """

  def __init__(self, patterns: Sequence[str],
               done: Optional[beam.PCollection] = None):
    super().__init__()
    self._patterns = list(patterns)
    self._done = done

  def expand(self, pbegin):
    return (storage.match_paths(pbegin, self._patterns)
            | "Keys" >> beam.Map(
                lambda path: (elements.ImageKey(path, origin=path), path))
            | "KeepNewOnce" >> keep_new.KeepNewOnce(self._done)
            | "Read" >> read_images())
