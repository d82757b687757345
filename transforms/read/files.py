"""Source: image files matched by globs on any Beam filesystem.

Each image's key is its full path. A file matched by several patterns is read
once, and a file whose path has a result in ``--skip_existing`` is not read
at all. Files are read by the decode step, a batch at a time in its threads
(:func:`input_bytes`); a file that cannot be read becomes a ``read``
failure there.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import apache_beam as beam

from transforms.core import elements
from transforms.core import failures
from transforms.read import keep_new
from transforms.read import storage


def input_bytes(item: elements.ImageInput) -> bytes:
  """The input's encoded bytes: its own, or its file's.

  Raises:
    failures.ImageFailure: ``read_error`` naming the file, when it cannot
      be read.
  """
  if item.data is not None:
    return item.data
  try:
    return storage.read_bytes(item.uri)
  except Exception as e:  # pylint: disable=broad-except
    raise failures.ImageFailure(
        failures.REASON_READ_ERROR,
        f"cannot read {item.uri}: {type(e).__name__}: {e}") from e


class ReadImageFiles(beam.PTransform):
  """Globs -> ``images`` (ImageInput with the path) and ``failures``
  (Failure; none: files fail when they are read).

  Paths whose key (the path) is in ``done`` are dropped; the join by key
  also spreads reading and decoding across workers.
  """

  def __init__(self, patterns: Sequence[str],
               done: Optional[beam.PCollection] = None):
    super().__init__()
    self._patterns = list(patterns)
    self._done = done

  def expand(self, pbegin):
    images = (storage.match_paths(pbegin, self._patterns)
              | "Keys" >> beam.Map(
                  lambda path: elements.ImageInput(
                      elements.ImageKey(path, origin=path), uri=path))
              | "KeepNewOnce" >> keep_new.KeepNewOnce(self._done))
    return {"images": images,
            failures.FAILURES_TAG: pbegin | "NoFailures" >> beam.Create([])}
