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
fails with ``missing_image``; a shard that cannot be read on is one
``bad_archive`` failure keyed by the shard's path, and the samples read
before the damage stay.
"""
from __future__ import annotations

from typing import FrozenSet, Iterable, Iterator, Optional, Sequence, Tuple

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


def member_value(suffix: str, data: bytes) -> object:
  """A pass-through member's value: text, or an integer for ``cls``."""
  text = data.decode("utf-8", errors="replace")
  if suffix in INTEGER_MEMBERS:
    try:
      return int(text.strip())
    except ValueError:
      return None
  return text


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
  image = next((sample.members[e] for e in image_extensions
                if e in sample.members), None)
  if image is None:
    return failures.Failure(
        key, failures.STAGE_READ, failures.REASON_MISSING_IMAGE,
        f"sample {sample.index} has no image member (expected one of "
        f"{', '.join(image_extensions)}; found "
        f"{', '.join(sorted(sample.members)) or 'none'})", escaped)
  values = tuple((c, member_value(c, sample.members[c])
                  if c in sample.members else None) for c in passthrough)
  return elements.ImageInput(
      elements.ImageKey(key, values, origin=f"{shard.key}\x00"
                        f"{sample.index:012d}", escaped=escaped), data=image)


class ReadShardDoFn(beam.DoFn):
  """(shard, done sample keys) -> ImageInput per sample, Failure for the
  rest (``missing_image``, ``duplicate_key``, ``bad_archive``)."""

  def __init__(self, image_extensions: Sequence[str],
               passthrough: Sequence[str]):
    self._extensions = tuple(image_extensions)
    self._passthrough = tuple(passthrough)
    self._skipped = counters.counter(counters.SKIPPED_DONE)

  def process(self, element: Tuple[listing.ListedFile, FrozenSet[_DoneKey]]
              ) -> Iterator[object]:
    shard, done = element
    seen = set()
    read = 0
    try:
      with storage.open_file(shard.path()) as stream:
        for sample in tar_samples.samples(tar_samples.members(stream)):
          read += 1
          within = file_names.key_of(sample.key)
          if within in seen:
            key, escaped = sample_key(shard, sample)
            yield failures.failure_output(
                key, failures.STAGE_READ, failures.REASON_DUPLICATE_KEY,
                f"sample {sample.index} repeats the key of an earlier sample "
                "of this shard (the first is processed)", escaped)
            continue
          seen.add(within)
          if within in done:
            self._skipped.inc()
            continue
          outcome = sample_input(shard, sample, self._extensions,
                                 self._passthrough)
          if isinstance(outcome, failures.Failure):
            yield failures.tagged(outcome)
          else:
            yield outcome
    except tar_samples.DamagedArchive as e:
      yield failures.failure_output(
          shard.key, failures.STAGE_READ, failures.REASON_BAD_ARCHIVE,
          f"archive unreadable after {read} sample(s) (those were "
          f"processed): {e}", shard.escaped)
    except Exception as e:  # pylint: disable=broad-except
      error = files.read_failure(shard.key, shard.path(), e)
      yield failures.failure_from(shard.key, failures.STAGE_READ, error,
                                  shard.escaped)


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
               done: Optional[beam.PCollection] = None):
    super().__init__()
    self._patterns = list(patterns)
    self._extensions = tuple(image_extensions)
    self._passthrough = tuple(passthrough)
    self._done = done

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
        self._extensions, self._passthrough)).with_outputs(
            failures.FAILURES_TAG, main="images")
    return {"images": read.images,
            failures.FAILURES_TAG: read[failures.FAILURES_TAG]}
