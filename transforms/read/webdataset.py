"""Source: WebDataset tar shards (``.tar``, ``.tar.gz``, ``.tgz``) on any
Beam filesystem, as img2dataset writes them.

A shard is the unit of work: it is read once, as a stream
(``tar_samples``), by one DoFn call, and its samples leave it with their
image bytes. Exactly-once needs no join of image bytes: a sample's key is
the shard's path plus the sample key (``SHARD:KEY``), unique across shards
by construction; a key repeated inside one shard is settled by the reader
(the first wins, the later ones fail with ``duplicate_key``). Keys of
earlier results (``--skip_existing``) are joined to their shard, keys only,
before the shard is read. The output is the same on every read of a shard,
since bundles are retried.

The image is the first member whose suffix is in ``--image_extensions``;
``--passthrough_columns`` copies other members as text (``json`` as its
JSON text, not parsed), ``cls`` as an integer. A sample without an image
fails with ``missing_image``, as does one whose image member is a link; an
image member over ``--max_member_bytes`` (64 MiB) fails with
``member_too_large``, and members the job does not use are never read.

A read that breaks is tried again (``READ_ATTEMPTS`` in all), from the
start of the shard, past the samples already handled: a transient error (a
GCS 503, a reset connection) costs nothing. A break at the same sample
twice is damage: the shard is then one ``bad_archive`` failure keyed by its
path (``read_error`` and the like for a file that cannot be opened), and the
samples read before the damage stay.
"""
from __future__ import annotations

import gzip
import tarfile
import time
from typing import (FrozenSet, Iterable, Iterator, Optional, Sequence, Set,
                    Tuple)

import apache_beam as beam

from transforms.core import counters
from transforms.core import elements
from transforms.core import failures
from transforms.core import file_names
from transforms.read import files
from transforms.read import listing
from transforms.read import storage
from transforms.read import tar_samples

SHARD_SUFFIXES = (".tar", ".tar.gz", ".tgz")
# Integer members (WebDataset's class-label convention).
INTEGER_MEMBERS = ("cls", "cls2", "index")

_DoneKey = Tuple[str, bool]
# Reads of a shard that breaks, in all; seconds before the second (then
# twice that).
READ_ATTEMPTS = 3
RETRY_SECONDS = 1.0


def member_value(suffix: str, data: bytes) -> object:
  """A pass-through member's value: text, or an integer for ``cls``."""
  text = data.decode("utf-8", errors="replace")
  if suffix in INTEGER_MEMBERS:
    try:
      return int(text.strip())
    except ValueError:
      return None
  return text


def _passed(suffix: str, member) -> object:
  """A pass-through member's value; None when absent or not read."""
  return member_value(suffix, member) if isinstance(member, bytes) else None


def sample_key(shard: listing.ListedFile,
               sample: tar_samples.Sample) -> Tuple[str, bool]:
  """A sample's (key, escaped): ``SHARD:SAMPLE_KEY``."""
  return file_names.key_of(f"{shard.path()}:{sample.key}")


def sample_input(shard: listing.ListedFile, sample: tar_samples.Sample,
                 image_extensions: Sequence[str],
                 passthrough: Sequence[str]):
  """One sample -> its ImageInput (with the image bytes), or its Failure
  (``missing_image``)."""
  key, escaped = sample_key(shard, sample)
  suffix = next((e for e in image_extensions if e in sample.members), None)
  image = sample.members[suffix] if suffix is not None else None
  if isinstance(image, tar_samples.Unread):
    return failures.Failure(
        key, failures.STAGE_READ,
        failures.REASON_MEMBER_TOO_LARGE if image.too_large else
        failures.REASON_MISSING_IMAGE,
        f"sample {sample.index}: its image member ({suffix}) is {image.why}"
        + ("" if image.too_large else ", which is not followed"), escaped)
  if image is None:
    return failures.Failure(
        key, failures.STAGE_READ, failures.REASON_MISSING_IMAGE,
        f"sample {sample.index} has no image member (expected one of "
        f"{', '.join(image_extensions)}; found "
        f"{', '.join(sorted(sample.members)) or 'none'})", escaped)
  values = tuple((c, _passed(c, sample.members.get(c))) for c in passthrough)
  return elements.ImageInput(
      elements.ImageKey(key, values, origin=f"{shard.key}\x00"
                        f"{sample.index:012d}", escaped=escaped), data=image)


class ReadShardDoFn(beam.DoFn):
  """(shard, done sample keys) -> ImageInput per sample, Failure for the
  rest (``missing_image``, ``duplicate_key``, ``bad_archive``)."""

  def __init__(self, image_extensions: Sequence[str],
               passthrough: Sequence[str],
               max_member_bytes: Optional[int] = None):
    self._extensions = tuple(image_extensions)
    self._passthrough = tuple(passthrough)
    self._max_member_bytes = max_member_bytes
    self._skipped = counters.counter(counters.SKIPPED_DONE)

  def _wanted(self, suffix: str) -> bool:
    return suffix in self._extensions or suffix in self._passthrough

  def process(self, element: Tuple[listing.ListedFile, FrozenSet[_DoneKey]]
              ) -> Iterator[object]:
    shard, done = element
    seen: Set[Tuple[str, bool]] = set()
    handled = 0         # samples handled, in shard order, by any attempt
    partial = None      # the sample the last break cut, held back
    failed_at = None
    error: Optional[Exception] = None
    for attempt in range(READ_ATTEMPTS):
      try:
        with storage.open_file(shard.path()) as stream:
          for sample in tar_samples.samples(
              tar_samples.members(stream, self._wanted,
                                  self._max_member_bytes)):
            if sample.index < handled:
              continue   # handled by an earlier attempt
            if not sample.complete:
              partial = sample
              continue
            partial = None
            handled += 1
            yield from self._sample(shard, sample, done, seen)
        return
      except Exception as e:  # pylint: disable=broad-except
        # A break at the same sample twice is damage; one that moves (a
        # 503, a reset) is read past by reading the shard again.
        error = e
        if failed_at == handled:
          break
        failed_at = handled
        if attempt + 1 < READ_ATTEMPTS:
          time.sleep(RETRY_SECONDS * (attempt + 1))
    if partial is not None:
      handled += 1   # its members read before the damage: as before
      yield from self._sample(shard, partial, done, seen)
    if isinstance(error, tar_samples.DamagedArchive) and not _io_error(error):
      yield failures.failure_output(
          shard.key, failures.STAGE_READ, failures.REASON_BAD_ARCHIVE,
          f"archive unreadable after {handled} sample(s) (those were "
          f"processed): {error}", shard.escaped)
    else:
      assert error is not None
      read_error = files.read_failure(
          shard.key, shard.path(),
          error.__cause__ if _io_error(error) else error)  # type: ignore[arg-type]
      yield failures.failure_from(shard.key, failures.STAGE_READ, read_error,
                                  shard.escaped)

  def _sample(self, shard: listing.ListedFile, sample: tar_samples.Sample,
              done: FrozenSet[_DoneKey], seen: Set[Tuple[str, bool]]
              ) -> Iterator[object]:
    within = file_names.key_of(sample.key)
    if within in seen:
      key, escaped = sample_key(shard, sample)
      yield failures.failure_output(
          key, failures.STAGE_READ, failures.REASON_DUPLICATE_KEY,
          f"sample {sample.index} repeats the key of an earlier sample "
          "of this shard (the first is processed)", escaped)
      return
    seen.add(within)
    if within in done:
      self._skipped.inc()
      return
    outcome = sample_input(shard, sample, self._extensions,
                           self._passthrough)
    if isinstance(outcome, failures.Failure):
      yield failures.tagged(outcome)
    else:
      yield outcome


def _io_error(error: Exception) -> bool:
  """A break that storage caused (a reset, a 503 that outlived the
  retries), not the archive's bytes: it fails as ``read_error``, never as
  the permanent ``bad_archive``."""
  cause = error.__cause__
  return (isinstance(cause, OSError) and
          not isinstance(cause, (EOFError, gzip.BadGzipFile, tarfile.TarError)))


def shard_candidates(done: _DoneKey
                     ) -> Iterable[Tuple[Tuple[str, bool], _DoneKey]]:
  """An earlier result's key -> (shard, sample key) for every ``:`` it
  could have been split at; the join keeps the one whose shard is listed."""
  key, escaped = done
  path = file_names.path_of(key, escaped)
  start = 0
  while True:
    at = path.find(":", start)
    if at < 0:
      return
    yield (file_names.key_of(path[:at]), file_names.key_of(path[at + 1:]))
    start = at + 1


def _with_done(element) -> Iterator[Tuple[listing.ListedFile,
                                          FrozenSet[_DoneKey]]]:
  _, grouped = element
  shards = list(grouped["shard"])
  if shards:
    yield shards[0], frozenset(grouped["done"])


class ReadWebDataset(beam.PTransform):
  """Shard globs -> ``images`` (ImageInput with the bytes) and
  ``failures``."""

  def __init__(self, patterns: Sequence[str], image_extensions: Sequence[str],
               passthrough: Sequence[str],
               done: Optional[beam.PCollection] = None,
               max_member_bytes: Optional[int] = None):
    super().__init__()
    self._patterns = list(patterns)
    self._extensions = tuple(image_extensions)
    self._passthrough = tuple(passthrough)
    self._done = done
    self._max_member_bytes = max_member_bytes

  def expand(self, pbegin):
    shards = (listing.match_files(pbegin, self._patterns)
              | "ByShard" >> beam.Map(lambda s: (tuple(s), s)))
    if self._done is None:
      done = pbegin | "NoDoneKeys" >> beam.Create([])
    else:
      done = self._done | "DoneByShard" >> beam.FlatMap(shard_candidates)
    # The join spreads shards across workers too: a shard is the unit.
    work = ({"shard": shards, "done": done}
            | "JoinDoneToShard" >> beam.CoGroupByKey()
            | "ShardWithDone" >> beam.FlatMap(_with_done))
    read = work | "ReadShards" >> beam.ParDo(ReadShardDoFn(
        self._extensions, self._passthrough,
        self._max_member_bytes)).with_outputs(
            failures.FAILURES_TAG, main="images")
    return {"images": read.images,
            failures.FAILURES_TAG: read[failures.FAILURES_TAG]}
