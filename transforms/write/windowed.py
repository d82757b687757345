"""Results and failures of a streaming job, written per window.

A streaming job never ends, so the batch writers' "finalize once every
part is committed" never comes. Here each window's rows are written when
the window fires (a grouping per window and shard, one file per group):
a file is whole when it appears (written under a temporary name, then
moved), and its name says its window and pane::

    OUTPUT/results-20261207T044000Z-20261207T044100Z-p0-00000-of-00002.parquet
    OUTPUT/failures/failures-20261207T044000Z-...-p0-00000-of-00001.jsonl

A window fires again for images that arrive late but within the allowed
lateness (pane ``p1``, ``p2``...): a new file, never one written again,
so nothing already read changes under its reader. An image later than
that is dropped by Beam at the grouping step, as every windowed Beam sink
drops it; the lateness is the caller's choice (``beam.WindowInto``'s
``allowed_lateness``; the command's ``--allowed_lateness``).

Beam's own ``fileio.WriteToFiles`` is not used: its writer passes no pane
to the file naming (Beam 2.7x), so a late pane's file took the on-time
pane's name and replaced it, losing its rows.
"""
from __future__ import annotations

import hashlib
import uuid
from typing import Any, Dict, Mapping

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
from apache_beam.transforms import window as window_lib

from transforms.write import output_files
from transforms.write import parts

_STAMP = "%Y%m%dT%H%M%SZ"


class _WriteWindowFileDoFn(beam.DoFn):
  """(shard, rows) of one window's pane -> one whole file, named for the
  window, the pane and the shard; written under a temporary name and
  moved into place, so a reader never sees half a file. A retry writes the
  same rows to the same name."""

  def __init__(self, folder: str, prefix: str,
               part_format: parts.PartFormat, shards: int):
    self._folder, self._prefix = folder, prefix
    self._format, self._shards = part_format, shards

  def process(self, shard_rows, window=beam.DoFn.WindowParam,
              pane=beam.DoFn.PaneInfoParam):
    shard, rows = shard_rows
    name = file_name(self._prefix, self._format.suffix, window,
                     pane.index if pane is not None else 0, shard,
                     self._shards)
    final = f"{self._folder}/{name}"
    temporary = (f"{self._folder}/{output_files.TEMP_PREFIX}"
                 f"{uuid.uuid4().hex}-{name}")
    self._format.write(temporary, list(rows))
    if FileSystems.exists(final):
      FileSystems.delete([final])
    FileSystems.rename([temporary], [final])
    yield final


def file_name(prefix: str, suffix: str, window, pane_index: int, shard: int,
              shards: int) -> str:
  """``PREFIX-START-END-pPANE-SSSSS-of-NNNNN SUFFIX``; a window's late
  pane gets a name of its own (Beam's own naming leaves the pane out)."""
  fields = [prefix]
  if window != window_lib.GlobalWindow():
    fields += [window.start.to_utc_datetime().strftime(_STAMP),
               window.end.to_utc_datetime().strftime(_STAMP)]
  fields += [f"p{pane_index}", f"{shard:05d}-of-{shards:05d}"]
  return "-".join(fields) + suffix


def _shard_of(row: Mapping[str, Any], shards: int) -> int:
  key = str(row.get("key", ""))
  digest = hashlib.blake2b(key.encode("utf-8", "surrogateescape"),
                           digest_size=8).digest()
  return int.from_bytes(digest, "big") % shards


class WriteInWindows(beam.PTransform):
  """{kind: rows} -> one set of files per window and pane, under
  ``output`` (results) and ``output/failures`` (failures)."""

  def __init__(self, output: str, formats: Mapping[str, parts.PartFormat],
               shards: int = 1):
    """Args:
      output: the output folder.
      formats: how each kind of row is written.
      shards: files per window and pane, of each kind.
    """
    super().__init__()
    self._output, self._formats = output, dict(formats)
    self._shards = shards

  def expand(self, rows_by_kind: Dict[str, beam.PCollection]):
    written = []
    shards = self._shards
    for kind, rows in rows_by_kind.items():
      part_format = self._formats[kind]
      if kind == parts.RESULTS_PARTS:
        folder, prefix = self._output, output_files.RESULTS_PREFIX
      else:
        folder = f"{self._output}/{output_files.FAILURES_DIR}"
        prefix = output_files.FAILURES_PREFIX
      label = kind.title()
      written.append(
          rows
          | f"Shard{label}" >> beam.Map(
              lambda row: (_shard_of(row, shards), row))
          | f"Group{label}" >> beam.GroupByKey()
          | f"Write{label}" >> beam.ParDo(_WriteWindowFileDoFn(
              folder, prefix, part_format, shards)))
    return tuple(written) | "Written" >> beam.Flatten()
