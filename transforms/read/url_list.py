"""Source: text files of one http(s) URL per line (``--input_format
urls``); blank lines and lines starting with ``#`` are skipped. The key is
the URL; a URL listed twice fails the later line with ``duplicate_key``.
The fetch stage fetches them."""
from __future__ import annotations

from typing import Iterator, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes

from transforms.core import elements
from transforms.core import failures
from transforms.read import keep_new
from transforms.read import listing
from transforms.read import storage


def url_lines(path: str) -> Iterator[Tuple[int, str]]:
  """(line number, URL) of each URL line of a list (gzip by extension)."""
  with storage.open_file(path, CompressionTypes.AUTO) as f:
    for number, raw in enumerate(f.read().decode("utf-8-sig").splitlines(),
                                 start=1):
      line = raw.strip()
      if line and not line.startswith("#"):
        yield number, line


class ListUrlsDoFn(beam.DoFn):
  """URL list -> (ImageKey, ...) as ImageInput with the URL."""

  def process(self, listed: listing.ListedFile):
    for number, url in url_lines(listed.path()):
      yield elements.ImageInput(
          elements.ImageKey(url, origin=f"{listed.key}\x00{number:012d}"),
          uri=url)


class ReadUrlLists(beam.PTransform):
  """URL list globs -> ``images`` (ImageInput with the URL) and
  ``failures`` (repeated URLs)."""

  def __init__(self, patterns: Sequence[str],
               done: Optional[beam.PCollection] = None):
    super().__init__()
    self._patterns = list(patterns)
    self._done = done

  def expand(self, pbegin):
    kept = (listing.match_files(pbegin, self._patterns)
            | "ListUrls" >> beam.ParDo(ListUrlsDoFn())
            | "KeepNewOnce" >> keep_new.KeepNewOnce(self._done))
    return {"images": kept.kept, failures.FAILURES_TAG:
            kept[failures.FAILURES_TAG]}
