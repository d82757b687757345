"""Listing in slices on the local runner: each input once, earlier results
skipped, and no shuffle (issue 34).

The local runner (Beam's FnApiRunner) holds a shuffle whole in memory,
decoded, before the next step starts: about 3 KB per input measured here,
so the ``KeepNewOnce`` join made memory and the time to the first result
grow with the number of inputs. On this runner loose files, manifests,
URL lists, TFRecord and Parquet images on a local disk are read in
``SLICES`` slices instead, each keeping the inputs whose key digest falls in it.
Every slice reads the same listing in the same order (matched files
sorted by key; rows and lines in file order), so each key's inputs all
meet in one slice, in the order they are listed, and that slice alone
settles them:

* the first one listed is kept, later ones fail as ``duplicate_key``
  naming the kept one (``read.keep_new``'s rule: lowest file, then row);
* a key an earlier run finished (``--skip_existing``, ``--resume``) is
  skipped: each slice loads its share of those keys from their files
  first.

What a slice has seen is kept in a small SQLite table on local disk (a
16-byte digest per key, and where the kept input was listed), so memory
stays flat however long the listing; the table is deleted when the slice
ends. A failure of the listing itself (a bad row, a damaged file) goes out
from the slice its key falls in, so once. The runner spreads the slices
over its workers, and decode fuses with listing: the first images are
decoded while listing goes on.

A container whose keys are read apart from its images (Parquet: the key
column alone) is a ``KeysFirst`` lister: a slice settles a row group's
keys, then reads the image column of that row group for the rows it
keeps. Every slice reads the key column of every row group, and the image
column of nearly every row group, taking its own rows: more reading (up
to ``SLICES`` times the bytes, from the page cache after the first) for
memory that stays flat. A TFRecord's keys are inside its records, so a
slice parses every record once and keeps the images of its own keys.

Elsewhere (Dataflow, or inputs in an object store) the join stays: a
Dataflow shuffle is not held in memory, and it spreads the work.
"""
from __future__ import annotations

import os
import sqlite3
import tempfile
from typing import (Any, Callable, Iterable, Iterator, Optional, Protocol,
                    Sequence, Set, Tuple, runtime_checkable)

import apache_beam as beam

from transforms.core import counters
from transforms.core import failures
from transforms.read import keep_new
from transforms.read import listing

SLICES = listing.SLICES



class DoneKeys(Protocol):
  """Keys an earlier run finished, as the read stage asks for them (the
  write stage, which wrote those files, provides it:
  ``write.earlier_results.EarlierKeys``)."""

  def files(self) -> Sequence[Any]:
    """The files holding them, each read by :meth:`keys_of`."""

  def keys_of(self, done_file: Any
              ) -> Iterable[Tuple[Tuple[str, bool], Optional[str]]]:
    """((key, key_escaped), a counter to add to or None) per key, streamed."""

  def collection(self, pbegin) -> beam.PCollection:
    """PBegin -> (key, key_escaped) of every key, for the join."""


@runtime_checkable
class KeysFirst(Protocol):
  """A lister for containers whose keys are read apart from their images
  (Parquet with image bytes): so a slice reads the images of its own kept
  keys only, never every input's."""

  def units(self, listed: listing.ListedFile) -> Iterable:
    """The file's units of work (row groups), or its failures."""

  def keys(self, unit) -> Iterable:
    """(ImageKey, where in the unit) per input of the unit, or failures."""

  def read(self, unit, kept: Sequence) -> Iterable:
    """The inputs (or failures) of the ``keys`` outputs kept."""


def slice_of(digest: bytes, slices: int = SLICES) -> int:
  return digest[0] % slices


class SeenKeys:
  """A slice's keys, on disk: digest -> where its kept input was listed
  (empty for a key done by an earlier run)."""

  def __init__(self, folder: Optional[str] = None):
    handle, self._path = tempfile.mkstemp(prefix="hub_image_beam_keys_",
                                          suffix=".sqlite", dir=folder)
    os.close(handle)
    self._db = sqlite3.connect(self._path, isolation_level=None)
    self._db.execute("PRAGMA journal_mode=OFF")
    self._db.execute("PRAGMA synchronous=OFF")
    self._db.execute("CREATE TABLE seen (digest BLOB PRIMARY KEY, "
                     "origin TEXT) WITHOUT ROWID")
    self._db.execute("BEGIN")

  def mark_done(self, digest: bytes) -> None:
    self._db.execute("INSERT OR REPLACE INTO seen VALUES (?, '')", (digest,))

  def first_or_kept(self, digest: bytes, origin: str) -> Optional[str]:
    """None when ``digest`` is new (now kept at ``origin``); else where the
    kept one was listed ('' for a key done earlier)."""
    row = self._db.execute("SELECT origin FROM seen WHERE digest = ?",
                           (digest,)).fetchone()
    if row is not None:
      return row[0]
    self._db.execute("INSERT INTO seen VALUES (?, ?)", (digest, origin))
    return None

  def close(self) -> None:
    try:
      self._db.close()
    finally:
      try:
        os.remove(self._path)
      except OSError:
        pass


def _failure_key(output) -> Tuple[str, bool]:
  failure = output.value
  return failure.key, bool(failure.key_escaped)


class ListInSlicesDoFn(beam.DoFn):
  """Slice index -> the inputs of that slice (see the module docstring),
  and the listing's failures whose keys fall in it."""

  def __init__(self, patterns: Sequence[str],
               lister: Callable[[], beam.DoFn],
               done: Optional[DoneKeys], sort_files: bool,
               slices: int = SLICES):
    self._patterns = tuple(patterns)
    self._lister = lister
    self._done = done
    self._sort_files = sort_files
    self._slices = slices

  def _listed(self) -> Iterable[listing.ListedFile]:
    """Each matched file once. Sorted by key where a file holds many inputs
    (manifests, lists: their order decides which of a key's inputs is
    kept); streamed for loose files, where nothing is held (a path is its
    own key, so there is no order to keep: a file an earlier glob matched
    is skipped by that glob's matcher)."""
    if self._sort_files:
      found: Set[listing.ListedFile] = set()
      for pattern in self._patterns:
        found.update(listing.iter_local(pattern))
      return sorted(found)
    return listing.iter_local_once(self._patterns)

  def setup(self):
    self._skipped = counters.counter(counters.SKIPPED_DONE)
    self._duplicates = counters.counter(counters.DUPLICATES)

  def process(self, piece: int) -> Iterator:
    seen = SeenKeys()
    try:
      for done_file in (self._done.files() if self._done else ()):
        for join_key, counter in self._done.keys_of(done_file):  # type: ignore[union-attr]
          digest = keep_new.key_digest(join_key)
          if slice_of(digest, self._slices) == piece:
            seen.mark_done(digest)
            if counter:
              counters.counter(counter).inc()
      lister = self._lister()
      for listed in self._listed():
        if not self._sort_files and slice_of(keep_new.key_digest(
            (listed.key, listed.escaped)), self._slices) != piece:
          continue  # a loose file is keyed by its path: not this slice's
        if isinstance(lister, KeysFirst):
          yield from self._keys_first(lister, listed, piece, seen)
          continue
        yield from self._settled(lister.process(listed) or (), piece, seen)
    finally:
      seen.close()

  def _settled(self, outputs: Iterable, piece: int,
               seen: SeenKeys) -> Iterator:
    """A lister's outputs -> this slice's share: the inputs it keeps, and
    the failures (the listing's, and repeated keys') whose keys fall in
    it."""
    for output in outputs:
      if isinstance(output, beam.pvalue.TaggedOutput):
        if self._ours(output, piece):
          yield output
        continue
      kept, failure = self._settle(output[0], piece, seen)
      if kept:
        yield output
      elif failure is not None:
        yield failure

  def _ours(self, failure, piece: int) -> bool:
    """Whether a listing failure's key falls in this slice."""
    return slice_of(keep_new.key_digest(_failure_key(failure)),
                    self._slices) == piece

  def _settle(self, image_key, piece: int, seen: SeenKeys
              ) -> Tuple[bool, Optional[beam.pvalue.TaggedOutput]]:
    """(whether this slice keeps the input, the failure of a repeated
    key); (False, None) for another slice's key or one done earlier."""
    digest = keep_new.key_digest(image_key.join_key())
    if slice_of(digest, self._slices) != piece:
      return False, None
    kept = seen.first_or_kept(digest, image_key.origin)
    if kept is None:
      return True, None
    if not kept:
      self._skipped.inc()
      return False, None
    self._duplicates.inc()
    return False, failures.failure_output(
        image_key.key, failures.STAGE_READ, failures.REASON_DUPLICATE_KEY,
        f"{keep_new.where(image_key.origin)} repeats the key of "
        f"{keep_new.where(kept)}, which is processed", image_key.escaped)

  def _keys_first(self, lister: "KeysFirst", listed: listing.ListedFile,
                  piece: int, seen: SeenKeys) -> Iterator:
    """A container whose keys are read apart from its images: each unit's
    keys settled here, then the images of those kept read together."""
    for unit in lister.units(listed):
      if isinstance(unit, beam.pvalue.TaggedOutput):
        if self._ours(unit, piece):
          yield unit
        continue
      kept = []
      for output in self._settled(lister.keys(unit), piece, seen):
        if isinstance(output, beam.pvalue.TaggedOutput):
          yield output
        else:
          kept.append(output)
      if kept:
        yield from lister.read(unit, kept)


def all_local(patterns: Sequence[str]) -> bool:
  return all(listing.is_local(p) for p in patterns)


class ListInSlices(beam.PTransform):
  """PBegin -> ``images`` (what ``lister`` lists, once per key, less what
  is done) and ``failures``; see the module docstring."""

  def __init__(self, patterns: Sequence[str],
               lister: Callable[[], beam.DoFn],
               done: Optional[DoneKeys], sort_files: bool,
               live_job: Optional[str] = None, slices: int = SLICES):
    super().__init__()
    self._patterns, self._lister = tuple(patterns), lister
    self._done = done
    self._sort_files = sort_files
    self._live_job, self._slices = live_job, slices

  def expand(self, pbegin):
    listed = (pbegin
              | "Slices" >> beam.Create(list(range(self._slices)))
              | "ListSlice" >> beam.ParDo(ListInSlicesDoFn(
                  self._patterns, self._lister, self._done,
                  self._sort_files, self._slices)).with_outputs(
                      failures.FAILURES_TAG, main="images"))
    images = listed.images
    if self._live_job is not None:
      images = images | "CountListed" >> beam.ParDo(
          keep_new.CountListed(self._live_job))
    return {"images": images,
            failures.FAILURES_TAG: listed[failures.FAILURES_TAG]}
