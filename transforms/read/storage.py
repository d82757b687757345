"""Reading stored files on any Beam filesystem: glob matching, whole files
and TFRecord framing. Every source reads through here, as do the write
stage's check of earlier results and the report.

Files are opened through :func:`open_file`, which first settles Beam's GCS
credentials when a storage emulator is configured (``core.storage_emulator``),
so DoFns need no set-up of their own for it.
"""
from __future__ import annotations

import bz2
import gzip
import io
import os
from typing import BinaryIO, Iterator, Optional, TextIO

from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.tfrecordio import _TFRecordUtil

from transforms.core import storage_emulator


def open_file(path: str,
              compression_type: str = CompressionTypes.UNCOMPRESSED
              ) -> BinaryIO:
  storage_emulator.skip_credential_search()
  return FileSystems.open(path, compression_type=compression_type)


_STRICT_DECOMPRESSION = {
    ".gz": lambda stored: gzip.GzipFile(fileobj=stored, mode="rb"),
    ".bz2": lambda stored: bz2.BZ2File(stored, mode="rb")}


class _Readable(io.RawIOBase):
  """Any object with ``read(n)`` as a raw stream that ``io`` can buffer
  (Beam's ``CompressedFile`` lacks ``readable`` and ``readinto``)."""

  def __init__(self, stream, underlying=None):
    super().__init__()
    self._stream = stream
    self._underlying = underlying   # closed too (a decompressor's file)

  def readable(self) -> bool:
    return True

  def readinto(self, buffer) -> int:
    data = self._stream.read(len(buffer))
    buffer[:len(data)] = data
    return len(data)

  def close(self) -> None:
    if not self.closed:
      self._stream.close()
      if self._underlying is not None:
        self._underlying.close()
    super().close()


def open_binary(path: str) -> io.BufferedReader:
  """A file's bytes, decompressed by extension (gzip, bzip2, ...), buffered
  and streamed: nothing is read whole.

  A ``.gz`` or ``.bz2`` file cut short raises ``EOFError`` when the cut is
  reached; Beam's own decompression reads such a file as complete, its
  last line cut mid-way.
  """
  strict = _STRICT_DECOMPRESSION.get(os.path.splitext(path)[1].lower())
  if strict is not None:
    stored = open_file(path)
    raw = _Readable(strict(stored), stored)
  else:
    raw = _Readable(open_file(path, CompressionTypes.AUTO))
  return io.BufferedReader(raw)


def open_text(path: str, newline: Optional[str] = None,
              errors: str = "strict") -> TextIO:
  """A text file (UTF-8, a BOM dropped) as :func:`open_binary` reads it."""
  return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig",
                          errors=errors, newline=newline)


def size_of(path: str) -> int:
  """The file's size in bytes, as stored."""
  if os.path.exists(path):
    return os.path.getsize(path)
  storage_emulator.skip_credential_search()
  return FileSystems.match([path])[0].metadata_list[0].size_in_bytes


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
