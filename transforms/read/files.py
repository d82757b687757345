"""Source: image files matched by globs on any Beam filesystem.

Each image's key is its full path. A file matched by several patterns is read
once, and a file whose path has a result in ``--skip_existing`` is not read
at all. A file that cannot be read becomes a ``read`` failure.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms.core import elements
from transforms.core import failures
from transforms.core import gcs_emulator
from transforms.read import incremental


def read_bytes(path: str) -> bytes:
  """Reads a whole file as stored (no transparent decompression)."""
  with FileSystems.open(path,
                        compression_type=CompressionTypes.UNCOMPRESSED) as f:
    return f.read()


class ReadImageDoFn(beam.DoFn):
  """(ImageKey, uri) -> EncodedImage, or a read failure."""

  def setup(self):
    gcs_emulator.skip_credential_search()

  def process(self, element: Tuple[elements.ImageKey, str]):
    image_key, uri = element
    try:
      data = read_bytes(uri)
    except Exception as e:  # pylint: disable=broad-except
      yield failures.failure_output(
          image_key.key, failures.STAGE_READ, failures.REASON_READ_ERROR,
          f"cannot read {uri}: {type(e).__name__}: {e}")
      return
    yield elements.EncodedImage(image_key, data)


def read_images() -> beam.ParDo:
  return beam.ParDo(ReadImageDoFn()).with_outputs(failures.FAILURES_TAG,
                                                  main="images")


def match_paths(pbegin, patterns: Sequence[str]):
  """Globs -> file paths (a file matched by several globs comes once per
  glob; :class:`incremental.KeepNewOnce` keeps one)."""
  return (pbegin
          | "Patterns" >> beam.Create(list(patterns))
          | "Match" >> fileio.MatchAll()
          | "Paths" >> beam.Map(lambda metadata: metadata.path))


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
    return (match_paths(pbegin, self._patterns)
            | "Keys" >> beam.Map(
                lambda path: (elements.ImageKey(path, origin=path), path))
            | "KeepNewOnce" >> incremental.KeepNewOnce(self._done)
            | "Read" >> read_images())
