"""Source: text files of one http(s) URL per line (``--input_format
urls``); blank lines and lines starting with ``#`` are skipped. The key is
the URL; a URL listed twice fails the later line with ``duplicate_key``.

A line that is not an http(s) URL with a host fails alone, here, keyed by
its file and line (``<list>:<line>``) and never opened (``core.urls``):
``bad_url`` (malformed), ``unsupported_url`` (a local path, ``gs://``,
``file:``, ``data:``, ``javascript:``, ...) or ``credentials_in_url``. Such
lines are not keyed by their text, which the list's author controls and
which would reach the report's HTML. The list is streamed a line at a
time, so a worker never holds a whole list. The fetch stage fetches
them."""
from __future__ import annotations

import zlib
from typing import Iterator, Optional, Sequence, Tuple

import apache_beam as beam

from transforms.core import credentials
from transforms.core import elements
from transforms.core import failures
from transforms.core import urls
from transforms.read import keep_new
from transforms.read import listing
from transforms.read import text_ranges


def url_lines(path: str, piece: text_ranges.Piece = text_ranges.WHOLE
              ) -> Iterator[Tuple[int, Optional[str]]]:
  """(line number from 1, URL) of each URL line of a list (gzip by
  extension), or of the piece of it (``read.text_ranges``); the URL is None
  for a line too long to be one. Bytes that are not UTF-8 read as U+FFFD,
  which ``core.urls`` refuses."""
  for index, record in text_ranges.records(path, piece):
    if record is None:   # over text_ranges.MAX_RECORD_BYTES
      yield index + 1, None
      continue
    line = record.decode("utf-8", "replace").strip()
    if line and not line.startswith("#"):
      yield index + 1, line


class ListUrlsDoFn(beam.DoFn):
  """URL list, or (list, piece) -> ImageInput with the URL per line, or the
  line's failure (``core.urls``) keyed ``<list>:<line>``."""

  def process(self, element):
    listed, piece = text_ranges.as_piece(element)
    number = 0
    try:
      for number, url in url_lines(listed.path(), piece):
        yield self._line(listed, number, url)
    except (OSError, EOFError, zlib.error) as e:
      # A list cut short (a truncated .gz) or unreadable: the lines before
      # were listed; the rest (of the piece) fail as one, keyed by the list
      # (or the piece).
      after = (f" after line {number}" if number else
               f" from line {piece.first_record + 1}" if piece.start else "")
      key = (listed.key if not piece.start else
             f"{listed.key}:from_byte_{piece.start}")
      yield failures.failure_output(
          key, failures.STAGE_READ, failures.REASON_READ_ERROR,
          f"the URL list could not be read{after} ({type(e).__name__}); "
          f"its later lines{' in this part' if piece.end is not None else ''}"
          ", if any, were not listed", listed.escaped)

  @staticmethod
  def _line(listed: listing.ListedFile, number: int, url: Optional[str]):
    """The line's ImageInput, or its failure, keyed ``<list>:<line>``."""
    if url is None:
      return failures.failure_output(
          f"{listed.key}:{number}", failures.STAGE_READ,
          failures.REASON_BAD_URL,
          f"line {number} of {listed.key} is over "
          f"{text_ranges.MAX_RECORD_BYTES} bytes (no URL is; a file of "
          "another kind?); it was not read", listed.escaped)
    refused = urls.refusal(url)
    if refused is None:
      return elements.ImageInput(
          elements.ImageKey(url, origin=f"{listed.key}\x00{number:012d}"),
          uri=url)
    where = f"line {number} of {listed.key}"
    message = (credentials.refusal(where)
               if refused.reason == failures.REASON_CREDENTIALS else
               f"{where} is {refused.message}")
    return failures.failure_output(f"{listed.key}:{number}",
                                   failures.STAGE_READ, refused.reason,
                                   message, listed.escaped)


class ReadUrlLists(beam.PTransform):
  """URL list globs -> ``images`` (ImageInput with the URL) and
  ``failures`` (repeated URLs)."""

  def __init__(self, patterns: Sequence[str],
               done: Optional[beam.PCollection] = None,
               live_job: Optional[str] = None,
               split_bytes: int = text_ranges.DEFAULT_SPLIT_BYTES):
    super().__init__()
    self._patterns = list(patterns)
    self._done = done
    self._live_job = live_job
    self._split_bytes = split_bytes

  def expand(self, pbegin):
    listed = (listing.match_files(pbegin, self._patterns)
              | "Pieces" >> text_ranges.SplitLists(self._split_bytes)
              | "ListUrls" >> beam.ParDo(ListUrlsDoFn()).with_outputs(
                  failures.FAILURES_TAG, main="urls"))
    kept = listed.urls | "KeepNewOnce" >> keep_new.KeepNewOnce(
                self._done, self._live_job)
    failed = ((listed[failures.FAILURES_TAG], kept[failures.FAILURES_TAG])
              | "AllReadFailures" >> beam.Flatten())
    return {"images": kept.kept, failures.FAILURES_TAG: failed}
