"""Listing the files a glob names, every one of them, in a fixed order.

Beam's ``FileSystems.match`` drops two kinds of local names without a word:
a dangling symlink (``os.path.getsize`` fails, and its listing skips files
that "may disappear"), and, later in the pipeline, any name that is not
valid UTF-8 kills the job when a coder meets its surrogates. Both break the
promise that every input comes out exactly once, so local globs are listed
here, with Beam's own pattern syntax (``*`` within a folder, ``**`` across
them, ``?``, ``[...]``) and Beam's walk (symlinked folders are not entered),
but keeping every name ``os.walk`` reports; the file is opened (and a
dangling link found) by the decode step, which fails it at the read stage
with a reason of its own. Other filesystems (``gs://``: names are UTF-8, no
symlinks) are listed by Beam.

Each match is a :class:`ListedFile`: the key ``core.file_names`` gives it,
so nothing downstream ever holds a name no coder can encode.
"""
from __future__ import annotations

import itertools
import os
import re
from typing import (Callable, Iterator, List, NamedTuple, Optional, Sequence,
                    Tuple)

import apache_beam as beam
from apache_beam.io.filesystem import FileSystem
from apache_beam.io.filesystems import FileSystems
from apache_beam.io.localfilesystem import LocalFileSystem

from transforms.core import file_names
from transforms.core import storage_emulator


_BEAM_STAR = r"[^/\\]*"
_POSIX_STAR = r"[^/]*"


class ListedFile(NamedTuple):
  """One matched file.

  Attributes:
    key: its path, or its escaped path (``core.file_names``).
    escaped: whether ``key`` is escaped.
  """
  key: str
  escaped: bool = False

  def path(self) -> str:
    """The path to open."""
    return file_names.path_of(self.key, self.escaped)


def is_local(pattern: str) -> bool:
  return isinstance(FileSystems.get_filesystem(pattern), LocalFileSystem)


def local_regex(pattern: str) -> str:
  """Beam's glob syntax as a regex for POSIX names: ``*`` stops at ``/``
  only (Beam's also stops at a backslash, which on Linux is an ordinary
  character of a name, so such names would vanish)."""
  return FileSystem.translate_pattern(pattern).replace(
      _BEAM_STAR, _POSIX_STAR)


def _normalized(pattern: str) -> str:
  return pattern + "*" if pattern.endswith("/") else pattern


def _walk(root: str) -> Iterator[str]:
  """Every non-folder name under ``root``, streamed a directory entry at a
  time (``os.walk`` lists each folder whole first). As Beam's walk: a
  symlink to a folder is not entered (nor listed); a dangling one is
  listed."""
  folders = [root]
  while folders:
    folder = folders.pop()
    try:
      entries = os.scandir(folder)
    except OSError:
      continue   # as os.walk: a folder we cannot read lists nothing
    with entries:
      for entry in entries:
        try:
          if entry.is_dir(follow_symlinks=False):
            folders.append(entry.path)
            continue
          if entry.is_symlink() and entry.is_dir():
            continue
        except OSError:
          pass
        yield entry.path


def _split(pattern: str) -> Tuple[str, str]:
  """(the pattern, a trailing ``/`` read as ``/*``; its part before the
  first glob character)."""
  pattern = _normalized(pattern)
  return pattern, re.match(r"^[^[*?]*", pattern).group(0)  # type: ignore[union-attr]


def _local_paths(pattern: str) -> Iterator[str]:
  pattern, prefix = _split(pattern)
  if prefix == pattern:  # no glob characters: the file itself
    if os.path.lexists(pattern):
      yield pattern
    return
  root = os.path.dirname(prefix) or "."
  if not os.path.isdir(root):
    return
  match = matcher(pattern)
  for path in _walk(root):
    if root == "." and not prefix.startswith("./"):
      path = os.path.relpath(path)
    if match(path):
      yield path


def iter_local(pattern: str) -> Iterator[ListedFile]:
  """The files the local ``pattern`` matches, streamed from a directory walk
  in no set order (nothing held: for a scan that does not need
  :func:`match_pattern`'s sorted list)."""
  for path in _local_paths(pattern):
    yield ListedFile(*file_names.key_of(path))


def matcher(pattern: str) -> Callable[[str], bool]:
  """Whether listing the local ``pattern`` gives a path, spelled so
  (compiled once, asked per path)."""
  pattern, prefix = _split(pattern)
  if prefix == pattern:
    return lambda path: path == pattern
  regex = re.compile(local_regex(pattern))
  return lambda path: regex.match(path) is not None


def match_pattern(pattern: str,
                  limit: Optional[int] = None) -> List[ListedFile]:
  """The files ``pattern`` matches, sorted by key (the job's listing order:
  deterministic, so the first N inputs are the same in every run).

  Args:
    limit: at most this many (on other filesystems, the first ones the
      listing returns, so a bucket of millions is not listed to find one).
  """
  paths: List[str]
  if is_local(pattern):
    paths = list(itertools.islice(_local_paths(pattern), limit))
  else:
    storage_emulator.skip_credential_search()
    paths = [m.path for m in FileSystems.match(
        [pattern], limits=[limit])[0].metadata_list]
  listed = sorted(ListedFile(*file_names.key_of(p)) for p in paths)
  return listed[:limit] if limit is not None else listed


# Slices a local listing is read in on the local runner (``read.slices``).
SLICES = 8


def iter_local_once(patterns: Sequence[str]) -> Iterator[ListedFile]:
  """The files the local globs match, each once, streamed in no set order:
  a file an earlier glob matches is skipped by that glob's matcher (no set
  of what was listed is held)."""
  for index, pattern in enumerate(patterns):
    earlier = [matcher(other) for other in patterns[:index]]
    for path in _local_paths(pattern):
      if any(match(path) for match in earlier):
        continue
      yield ListedFile(*file_names.key_of(path))


class _MatchDoFn(beam.DoFn):
  """Pattern -> ListedFile per file it matches."""

  def process(self, pattern: str) -> Iterator[ListedFile]:
    yield from match_pattern(pattern)


def match_files(pbegin, patterns: Sequence[str]):
  """PBegin -> ListedFile for each file the globs match, once (a file
  matched by several globs is one file; grouped as plain tuples, which have
  a deterministic coder)."""
  return (pbegin
          | "Patterns" >> beam.Create(list(patterns))
          | "Match" >> beam.ParDo(_MatchDoFn())
          | "UniquePaths" >> _Distinct())


class _Distinct(beam.PTransform):
  """ListedFile -> each once."""

  def expand(self, listed):
    return (listed
            | "AsTuple" >> beam.Map(tuple)
            | "Group" >> beam.Distinct()
            | "AsListedFile" >> beam.MapTuple(ListedFile))
