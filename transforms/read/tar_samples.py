"""WebDataset shards as samples: pure generator steps, each testable alone
(as webdataset's ``tariterators.py`` chains them): a byte stream -> tar
members -> samples grouped by key.

WebDataset's rule: a member's sample key is its path up to the first dot of
its last path component, and the rest is its suffix (``a/b/000123.seg.png``
-> key ``a/b/000123``, suffix ``seg.png``). Consecutive members with one
key form one sample. The shard is read as a stream (``tarfile`` in stream
mode, gzip detected from the bytes): one member at a time, never the whole
shard. Only the members a job uses (its image and pass-through suffixes) are
read, each up to a cap (:data:`MAX_MEMBER_BYTES`): a multi-GB ``.mp4``
beside the images is passed over unread. A member over the cap, or a link
(symbolic or hard, which a stream cannot follow), stands in its sample as
an :class:`Unread` saying why, so the sample fails with a reason instead of
vanishing.
"""
from __future__ import annotations

import dataclasses
import re
import tarfile
from typing import (BinaryIO, Callable, Dict, Iterator, Optional, Tuple,
                    Union)

_NAME = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")
# tarfile's "a block of zeros: the end of the archive" (not in typeshed).
_END_OF_ARCHIVE = getattr(tarfile, "EOFHeaderError")


# The most bytes of one member read into memory.
MAX_MEMBER_BYTES = 64 * 2**20


@dataclasses.dataclass(frozen=True)
class Unread:
  """A member that was not read: ``why`` is a phrase ("a symbolic link",
  "112,000,000 bytes, over the 67,108,864-byte limit"); ``too_large`` when
  that is the reason."""
  why: str
  too_large: bool = False


@dataclasses.dataclass
class Sample:
  """One sample: its key and its members by suffix (lowercase), in the
  shard's order.

  Attributes:
    key: the sample key within the shard.
    members: suffix -> bytes, or Unread.
    index: the sample's position in the shard (0-based).
    complete: False for the sample in progress when the stream broke (it
      may lack members that came after the damage).
  """
  key: str
  members: Dict[str, Union[bytes, Unread]]
  index: int
  complete: bool = True


class DamagedArchive(Exception):
  """The shard cannot be read past some point; ``samples`` yielded every
  sample read before it."""


def split_name(name: str) -> Optional[Tuple[str, str]]:
  """A member's (sample key, suffix), or None for a name without a suffix
  (WebDataset skips those)."""
  match = _NAME.match(name)
  if not match:
    return None
  return match.group(1), match.group(2).lower()


class _HeaderWatch(tarfile.TarInfo):
  """Remembers why ``tarfile`` stopped: a tar ends with a block of zeros
  (``EOFHeaderError``); a stream that stops short, or a garbled header after
  the first, ends tarfile's iteration just as quietly, and would lose the
  rest of the shard without a word."""

  @classmethod
  def fromtarfile(cls, tarfile_):
    try:
      return super().fromtarfile(tarfile_)
    except tarfile.HeaderError as e:
      tarfile_.stopped_by = e  # type: ignore[attr-defined]
      raise


def members(stream: BinaryIO,
            wanted: Optional[Callable[[str], bool]] = None,
            max_bytes: Optional[int] = None
            ) -> Iterator[Tuple[str, Union[bytes, Unread]]]:
  """The members of a tar (or gzipped tar) stream, in order: a regular
  file's bytes, or :class:`Unread` for a link or a member over
  ``max_bytes`` (default :data:`MAX_MEMBER_BYTES`), or for one whose suffix ``wanted`` rejects (it still
  makes its sample: a sample of unused members fails as one). Folders and
  names without a suffix are skipped.

  Raises:
    DamagedArchive: the stream is not a tar, or is truncated or corrupt;
      the members before the damage were yielded.
  """
  if max_bytes is None:
    max_bytes = MAX_MEMBER_BYTES
  try:
    with tarfile.open(fileobj=stream, mode="r|*",
                      tarinfo=_HeaderWatch) as archive:
      archive.stopped_by = None  # type: ignore[attr-defined]
      for info in archive:
        if info.isdir():
          continue
        split = split_name(info.name)
        if split is None:
          continue
        if wanted is not None and not wanted(split[1]):
          yield info.name, Unread("not used by this job")  # still a sample
          continue
        if info.issym() or info.islnk():
          yield info.name, Unread("a symbolic link" if info.issym() else
                                  "a hard link to another member")
          continue
        if not info.isfile():
          yield info.name, Unread("not a regular file")
          continue
        if info.size > max_bytes:
          yield info.name, Unread(f"{info.size:,} bytes, over the "
                                  f"{max_bytes:,}-byte limit", True)
          continue
        handle = archive.extractfile(info)
        data = handle.read() if handle is not None else b""
        if len(data) != info.size:
          raise DamagedArchive(f"member {info.name!r} is truncated "
                               f"({len(data)} of {info.size} bytes)")
        yield info.name, data
      stopped = archive.stopped_by  # type: ignore[attr-defined]
      if not isinstance(stopped, _END_OF_ARCHIVE):
        raise DamagedArchive(
            "the archive stops without its end-of-archive block ("
            f"{type(stopped).__name__ if stopped else 'no end'}: "
            f"{stopped or 'truncated'})")
  except DamagedArchive:
    raise
  except (tarfile.TarError, EOFError, OSError, ValueError) as e:
    raise DamagedArchive(f"{type(e).__name__}: {e}") from e
  except Exception as e:  # zlib.error and the like: damage all the same
    raise DamagedArchive(f"{type(e).__name__}: {e}") from e


def samples(named: Iterator[Tuple[str, Union[bytes, Unread]]]
            ) -> Iterator[Sample]:
  """Members -> samples: consecutive members with one sample key.

  A member whose suffix repeats within one sample is ignored (the first
  wins, as in WebDataset). Raises what ``named`` raises, after yielding the
  sample in progress (its members were read before the damage).
  """
  current: Optional[Sample] = None
  index = 0
  try:
    for name, data in named:
      split = split_name(name)
      if split is None:
        continue
      key, suffix = split
      if current is not None and current.key != key:
        yield current
        current = None
      if current is None:
        current = Sample(key, {}, index)
        index += 1
      current.members.setdefault(suffix, data)
  except DamagedArchive:
    if current is not None:
      current.complete = False
      yield current
    raise
  if current is not None:
    yield current
