"""Source: image files matched by globs on any Beam filesystem.

Each image's key is its full path. A file matched by several patterns is read
once. A file that cannot be read becomes a ``read`` failure.
"""
from __future__ import annotations

from typing import Sequence

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems

from transforms import failures
from transforms import metrics
from transforms import records


def read_bytes(path: str) -> bytes:
  """Reads a whole file as stored (no transparent decompression)."""
  with FileSystems.open(path,
                        compression_type=CompressionTypes.UNCOMPRESSED) as f:
    return f.read()


class ReadFileDoFn(beam.DoFn):
  """path -> EncodedImage, or a read failure."""

  def __init__(self):
    self._inputs = metrics.counter(metrics.INPUTS)

  def process(self, path: str):
    self._inputs.inc()
    key = records.ImageKey(path)
    try:
      data = read_bytes(path)
    except Exception as e:  # pylint: disable=broad-except
      yield beam.pvalue.TaggedOutput(
          failures.FAILURES_TAG,
          failures.Failure(path, failures.STAGE_READ,
                           failures.REASON_READ_ERROR,
                           f"{type(e).__name__}: {e}"))
      return
    yield records.EncodedImage(key, data)


class ReadImageFiles(beam.PTransform):
  """Globs -> EncodedImage (main output) and Failure (``failures`` output)."""

  def __init__(self, patterns: Sequence[str]):
    super().__init__()
    self._patterns = list(patterns)

  def expand(self, pbegin):
    paths = (pbegin
             | "Patterns" >> beam.Create(self._patterns)
             | "Match" >> fileio.MatchAll()
             | "Paths" >> beam.Map(lambda metadata: metadata.path))
    if len(self._patterns) > 1:
      # Overlapping globs must not give one file two results.
      paths = paths | "Dedupe" >> beam.Distinct()
    else:
      # Break fusion so reading and decoding fan out across workers.
      paths = paths | "Spread" >> beam.Reshuffle()
    return paths | "Read" >> beam.ParDo(ReadFileDoFn()).with_outputs(
        failures.FAILURES_TAG, main="images")
