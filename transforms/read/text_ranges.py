"""Text lists read in byte ranges, so one big list is read by many workers
(issue 34), with every record numbered as a whole-file read numbers it.

A URL list, a CSV manifest or a JSON Lines one is a sequence of records:
lines, except that a CSV field in double quotes may hold newlines. A
record ends at a newline outside quotes (its *terminator*); record ``i``
(from 0) is the one after ``i`` terminators. A quote character toggles
"inside quotes" (an escaped quote, ``""``, toggles twice), so whether a
byte is inside quotes is the parity of the quotes before it: exactly what
a byte range cannot know alone.

So an uncompressed list larger than the split size is read in two passes,
as Beam's text source splits files by byte range:

1. each range counts its quote characters and its terminators, once for
   each parity it may start in (:func:`count_range`);
2. summing the counts of the ranges before it (:func:`number_ranges`)
   gives each range its parity and the number of its first record
   (:class:`Piece`), and the range reads the records that *begin* in it
   (:func:`records`), the last one past its end if need be.

The record numbers, and so the keys of rows that fail (``<list>:<row>``)
and the order that decides which of a repeated key's rows wins, are the
same however a list is split. A compressed list (``.gz``, ``.bz2``)
cannot be split and is read whole, streamed, as is any list under the
split size. Records are bytes; lines end in ``\\n`` (a ``\\r`` before it
is the line's, and stripped by the format's reader); a UTF-8 byte order
mark at the start of the file is dropped.
"""
from __future__ import annotations

import dataclasses
from typing import (BinaryIO, Callable, Iterator, List, NamedTuple, Optional,
                    Sequence, Tuple)

import apache_beam as beam

from apache_beam.io.filesystem import CompressionTypes

from transforms.read import listing
from transforms.read import storage

# Lists larger than this are read in ranges of about this size.
DEFAULT_SPLIT_BYTES = 64 * 2**20
NEWLINE = b"\n"
QUOTE = b'"'
_BOM = b"\xef\xbb\xbf"
_BLOCK = 2**20
# The longest record held: a longer one (a line with no end, a quote never
# closed) is passed over unheld and fails alone.
MAX_RECORD_BYTES = 4 * 2**20


class Piece(NamedTuple):
  """What one worker reads of a list: the records beginning in
  [``start``, ``end``) (``end`` None: to the end of the file).

  Attributes:
    first_record: the number of terminators before ``start``: the number
      of a record that begins at ``start`` (the next one is numbered one
      more).
    in_quotes: whether ``start`` is inside a quoted field.
  """
  start: int = 0
  end: Optional[int] = None
  first_record: int = 0
  in_quotes: bool = False

  def where(self) -> str:
    """The piece in a message: empty for a whole file."""
    return "" if self.start == 0 else f" from byte {self.start}"


WHOLE = Piece()


def splittable(path: str) -> bool:
  """Whether the list can be read in byte ranges: not compressed."""
  return CompressionTypes.detect_compression_type(
      path) == CompressionTypes.UNCOMPRESSED and not path.lower().endswith(
          (".gz", ".bz2", ".zst", ".xz", ".deflate", ".zz"))


def ranges(size: int, split_bytes: int) -> List[Tuple[int, int]]:
  """[start, end) byte ranges of about ``split_bytes`` covering ``size``."""
  count = max(1, -(-size // split_bytes))
  step = -(-size // count)
  return [(start, min(start + step, size)) for start in range(0, size, step)
          ] or [(0, 0)]


@dataclasses.dataclass(frozen=True)
class RangeCount:
  """What pass 1 learns of one range.

  Attributes:
    quotes: quote characters in it.
    terminators: its terminators if it starts outside quotes, and if it
      starts inside.
  """
  quotes: int
  terminators: Tuple[int, int]


def count_range(path: str, start: int, end: int,
                quote: Optional[bytes]) -> RangeCount:
  """Counts the range's quotes and terminators (pass 1), in blocks."""
  quotes, ends = 0, [0, 0]
  with storage.open_file(path) as f:
    f.seek(start)
    left = end - start
    while left > 0:
      block = f.read(min(_BLOCK, left))
      if not block:
        raise EOFError(f"the file ended at byte {end - left}, before "
                       f"byte {end} (it changed while being read)")
      left -= len(block)
      if quote is None:
        newlines = block.count(NEWLINE)
        ends[0] += newlines
        ends[1] += newlines
        continue
      parts = block.split(quote)
      even = sum(part.count(NEWLINE) for part in parts[0::2])
      odd = sum(part.count(NEWLINE) for part in parts[1::2])
      for start_parity in (0, 1):
        outside_even = (start_parity + quotes) % 2 == 0
        ends[start_parity] += even if outside_even else odd
      quotes += len(parts) - 1
  return RangeCount(quotes, (ends[0], ends[1]))


def number_ranges(bounds: Sequence[Tuple[int, int]],
                  counts: Sequence[RangeCount]) -> List[Piece]:
  """Pass 1's counts, in file order -> each range's :class:`Piece`."""
  pieces, records, parity = [], 0, 0
  for (start, end), count in zip(bounds, counts):
    pieces.append(Piece(start, end, records, bool(parity)))
    records += count.terminators[parity]
    parity = (parity + count.quotes) % 2
  return pieces


def _skip_to_record(f: BinaryIO, piece: Piece,
                    quote: Optional[bytes]) -> int:
  """Moves ``f`` to the first record beginning at or after the piece's
  start; returns its number. Reads at most a chunk at a time: a line
  without end is passed over, never held."""
  if piece.start == 0:
    return 0
  f.seek(piece.start - 1)
  if f.read(1) == NEWLINE and not piece.in_quotes:
    return piece.first_record      # a record begins right at start
  inside = piece.in_quotes
  while True:
    chunk = f.readline(_BLOCK)
    if not chunk:
      return piece.first_record + 1   # no record begins in or after it
    if quote is not None:
      inside = inside != (chunk.count(quote) % 2 == 1)
    if chunk.endswith(NEWLINE) and not inside:
      return piece.first_record + 1


def _read_record(f: BinaryIO, quote: Optional[bytes]
                 ) -> Tuple[Optional[bytes], int]:
  """(the next record with its terminator, or None when it is over
  :data:`MAX_RECORD_BYTES`; the bytes it took), read a chunk at a time;
  (b"", 0) at the end. A record over the limit (a line with no end, a
  quote never closed) is passed over to its end, never held."""
  held: List[bytes] = []
  size = consumed = 0
  inside = cut = False
  while True:
    chunk = f.readline(_BLOCK)
    if not chunk:
      break
    consumed += len(chunk)
    if quote is not None:
      inside = inside != (chunk.count(quote) % 2 == 1)
    if not cut:
      size += len(chunk)
      cut = size > MAX_RECORD_BYTES
      if cut:
        held = []
      else:
        held.append(chunk)
    if chunk.endswith(NEWLINE) and not inside:
      break
  return (None if cut else b"".join(held)), consumed


def records(path: str, piece: Piece = WHOLE, quote: Optional[bytes] = None
            ) -> Iterator[Tuple[int, Optional[bytes]]]:
  """(number, bytes without the terminator) of each record beginning in the
  piece, streamed (pass 2); the bytes are None for a record over
  :data:`MAX_RECORD_BYTES`. A whole-file piece reads compressed files too
  (cut short: ``EOFError`` at the cut, as ``storage.open_text``)."""
  whole = piece.start == 0 and piece.end is None
  with storage.open_binary(path) if whole else storage.open_file(path) as f:
    number = _skip_to_record(f, piece, quote)
    position = f.tell() if piece.end is not None else 0
    while piece.end is None or position < piece.end:
      record, consumed = _read_record(f, quote)
      if not consumed:
        return
      position += consumed
      if record is not None:
        if number == 0 and record.startswith(_BOM):
          record = record[len(_BOM):]
        record = record[:-1] if record.endswith(NEWLINE) else record
      yield number, record
      number += 1


def as_piece(element) -> Tuple[listing.ListedFile, Piece]:
  """A lister's element, a whole file or (file, piece), as (file, piece)."""
  if isinstance(element[0], str):   # a ListedFile: (key, escaped)
    return listing.ListedFile(*element), WHOLE
  listed, piece = element
  return listing.ListedFile(*listed), Piece(*piece)


_TO_COUNT = "to_count"


class _PlanPieces(beam.DoFn):
  """ListedFile -> (file, piece) where the pieces are known without reading
  (a small or compressed list: whole; ``planned`` decides others, such as
  a Parquet manifest's row groups), else each byte range to count."""

  def __init__(self, split_bytes: int,
               planned: Optional[Callable[[listing.ListedFile, int],
                                          Optional[List[Piece]]]]):
    self._split_bytes, self._planned = split_bytes, planned

  def process(self, listed: listing.ListedFile):
    pieces = self._planned(listed, self._split_bytes) if self._planned \
        else None
    if pieces is not None:
      for piece in pieces:
        yield listed, piece
      return
    path = listed.path()
    try:
      size = storage.size_of(path) if splittable(path) else 0
    except Exception:  # pylint: disable=broad-except
      size = 0   # read whole: its reader reports what is wrong
    bounds = ranges(size, self._split_bytes)
    if len(bounds) == 1:
      yield listed, WHOLE
      return
    for index, (start, end) in enumerate(bounds):
      yield beam.pvalue.TaggedOutput(
          _TO_COUNT, (tuple(listed), (index, start, end)))


class _CountRange(beam.DoFn):
  """(file, (index, start, end)) -> (file, (index, start, end, quotes,
  terminators from outside quotes, from inside)); the counts are None
  when the range could not be read."""

  def __init__(self, quote_of: Optional[Callable[[str], Optional[bytes]]]):
    self._quote_of = quote_of

  def process(self, element):
    listed, (index, start, end) = element
    path = listing.ListedFile(*listed).path()
    try:
      count = count_range(path, start, end, self._quote_of(path)
                          if self._quote_of else None)
      counted: Tuple = (count.quotes,) + count.terminators
    except Exception:  # pylint: disable=broad-except
      counted = (None, None, None)
    yield listed, (index, start, end) + counted


def _numbered(element) -> Iterator[Tuple[listing.ListedFile, Piece]]:
  """(file, its ranges' counts) -> (file, piece) per range; a file a range
  of which could not be counted is read whole (its reader then fails at
  the damage, keyed by the file, as an unsplit list does)."""
  key, counted = element
  listed = listing.ListedFile(*key)
  counted = sorted(counted)
  if any(c[3] is None for c in counted):
    yield listed, WHOLE
    return
  for piece in number_ranges(
      [(c[1], c[2]) for c in counted],
      [RangeCount(c[3], (c[4], c[5])) for c in counted]):
    yield listed, piece


class SplitLists(beam.PTransform):
  """ListedFile -> (ListedFile, Piece): each list in pieces that workers
  read apart (see the module docstring), spread over workers."""

  def __init__(self, split_bytes: int = DEFAULT_SPLIT_BYTES,
               quote_of: Optional[Callable[[str], Optional[bytes]]] = None,
               planned: Optional[Callable[[listing.ListedFile, int],
                                          Optional[List[Piece]]]] = None):
    """Args:
      split_bytes: an uncompressed list larger than this is read in ranges
        of about this size.
      quote_of: path -> the quote character of its format (CSV's), or
        None; None: no quotes (lines).
      planned: file -> its pieces, where the format knows them without
        counting (a Parquet manifest's row groups), or None to split it by
        byte range.
    """
    super().__init__()
    self._split_bytes, self._quote_of, self._planned = (
        split_bytes, quote_of, planned)

  def expand(self, listed):
    planned = listed | "PlanPieces" >> beam.ParDo(_PlanPieces(
        self._split_bytes, self._planned)).with_outputs(
            _TO_COUNT, main="pieces")
    counted = (planned[_TO_COUNT]
               | "SpreadRanges" >> beam.Reshuffle()
               | "CountRanges" >> beam.ParDo(_CountRange(self._quote_of))
               | "ByFile" >> beam.GroupByKey()
               | "NumberRanges" >> beam.FlatMap(_numbered))
    return ((planned.pieces, counted)
            | "AllPieces" >> beam.Flatten()
            | "SpreadPieces" >> beam.Reshuffle())
