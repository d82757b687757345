"""Source: text files of one http(s) URL per line (``--input_format
urls``); blank lines and lines starting with ``#`` are skipped. The key is
the URL; a URL listed twice fails the later line with ``duplicate_key``,
and a URL with credentials in it fails as ``credentials_in_url``, keyed by
its file and line. The list is streamed a line at a time, so a worker never
holds a whole list. The fetch stage fetches them."""
from __future__ import annotations

import io
from typing import Iterator, Optional, Sequence, Tuple

import apache_beam as beam
from apache_beam.io.filesystem import CompressionTypes

from transforms.core import credentials
from transforms.core import elements
from transforms.core import failures
from transforms.read import keep_new
from transforms.read import listing
from transforms.read import storage


def url_lines(path: str) -> Iterator[Tuple[int, str]]:
  """(line number, URL) of each URL line of a list (gzip by extension)."""
  with storage.open_file(path, CompressionTypes.AUTO) as f:
    for number, raw in enumerate(io.TextIOWrapper(f, encoding="utf-8-sig"),
                                 start=1):
      line = raw.strip()
      if line and not line.startswith("#"):
        yield number, line


class ListUrlsDoFn(beam.DoFn):
  """URL list -> ImageInput with the URL per line, or a
  ``credentials_in_url`` failure keyed ``<list>:<line>``."""

  def process(self, listed: listing.ListedFile):
    for number, url in url_lines(listed.path()):
      if credentials.has_credentials(url):
        yield failures.failure_output(
            f"{listed.key}:{number}", failures.STAGE_READ,
            failures.REASON_CREDENTIALS,
            credentials.refusal(f"line {number} of {listed.key}"),
            listed.escaped)
        continue
      yield elements.ImageInput(
          elements.ImageKey(url, origin=f"{listed.key}\x00{number:012d}"),
          uri=url)


class ReadUrlLists(beam.PTransform):
  """URL list globs -> ``images`` (ImageInput with the URL) and
  ``failures`` (repeated URLs)."""

  def __init__(self, patterns: Sequence[str],
               done: Optional[beam.PCollection] = None,
               live_job: Optional[str] = None):
    super().__init__()
    self._patterns = list(patterns)
    self._done = done
    self._live_job = live_job

  def expand(self, pbegin):
    listed = (listing.match_files(pbegin, self._patterns)
              | "ListUrls" >> beam.ParDo(ListUrlsDoFn()).with_outputs(
                  failures.FAILURES_TAG, main="urls"))
    kept = listed.urls | "KeepNewOnce" >> keep_new.KeepNewOnce(
                self._done, self._live_job)
    failed = ((listed[failures.FAILURES_TAG], kept[failures.FAILURES_TAG])
              | "AllReadFailures" >> beam.Flatten())
    return {"images": kept.kept, failures.FAILURES_TAG: failed}
