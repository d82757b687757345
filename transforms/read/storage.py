"""Reading stored files on any Beam filesystem: glob matching, whole files
and TFRecord framing. Every source reads through here, as do the write
stage's check of earlier results and the report.

Files are opened through :func:`open_file`, which first settles Beam's GCS
credentials when a storage emulator is configured (``core.storage_emulator``),
so DoFns need no set-up of their own for it.
"""
from __future__ import annotations

from typing import BinaryIO, Iterator

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import _TFRecordUtil

from transforms.core import storage_emulator


def open_file(path: str,
              compression_type: str = CompressionTypes.UNCOMPRESSED
              ) -> BinaryIO:
  storage_emulator.skip_credential_search()
  return FileSystems.open(path, compression_type=compression_type)


def read_bytes(path: str) -> bytes:
  """Reads a whole file as stored (no transparent decompression)."""
  with open_file(path) as f:
    return f.read()


def iter_records(path: str) -> Iterator[bytes]:
  """The records of a TFRecord file (CRC-checked; gzip by extension).

  Raises:
    ValueError / OSError: the framing is broken; records before it were
      yielded.
  """
  with open_file(path, CompressionTypes.AUTO) as f:
    while True:
      record = _TFRecordUtil.read_record(f)
      if record is None:
        return
      yield record
