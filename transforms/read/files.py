"""Source: image files matched by globs on any Beam filesystem.

Each image's key is its full path (escaped when the name is not UTF-8,
``core.file_names``). Every name the glob matches is listed, dangling
symlinks included (``listing``). A file matched by several patterns is read
once, and a file whose path has a result in ``--skip_existing`` is not read
at all. Files are read by the decode step, a batch at a time in its threads
(:func:`input_bytes`); a file that cannot be read becomes a ``read``
failure there, with a reason that says why (:func:`read_failure`).
"""
from __future__ import annotations

import os
from typing import Optional, Sequence

import apache_beam as beam

from transforms.core import elements
from transforms.core import failures
from transforms.core import file_names
from transforms.read import keep_new
from transforms.read import listing
from transforms.read import storage


def listed_input(listed: listing.ListedFile) -> elements.ImageInput:
  """A matched file -> its input: keyed by its path (escaped when the name
  is not UTF-8), read by the decode step."""
  return elements.ImageInput(
      elements.ImageKey(listed.key, origin=listed.key,
                        escaped=listed.escaped),
      uri=listed.key, uri_escaped=listed.escaped, listed=True)


def _printable(text: str) -> str:
  """``text`` with any surrogates (from a name that is not UTF-8) escaped,
  so the message can be written."""
  return text.encode("utf-8", "backslashreplace").decode("utf-8")


def read_failure(uri: str, path: str, error: Exception,
                 listed: bool = True) -> failures.ImageFailure:
  """Why the file ``uri`` (opened as ``path``) could not be read.

  Args:
    listed: ``uri`` was found by listing (else a manifest named it).

  Returns:
    An ImageFailure with reason ``dangling_symlink`` (a link whose target
    does not exist), ``permission_denied``, ``vanished`` (listed, but gone
    when read), ``not_found`` (a manifest's URI that is not there) or
    ``read_error`` (anything else).
  """
  detail = _printable(f"{type(error).__name__}: {error}")
  if listing.is_local(path) and os.path.islink(path) and not os.path.exists(
      path):
    target, _ = file_names.key_of(os.readlink(path))
    return failures.ImageFailure(
        failures.REASON_DANGLING_SYMLINK,
        f"{uri} is a symlink to {target}, which does not exist")
  if isinstance(error, PermissionError):
    return failures.ImageFailure(
        failures.REASON_PERMISSION, f"cannot read {uri}: {detail}")
  if isinstance(error, FileNotFoundError) or type(error).__name__ in (
      "NotFound", "NotFoundError"):
    if not listed:
      return failures.ImageFailure(failures.REASON_NOT_FOUND,
                                   f"{uri} does not exist: {detail}")
    return failures.ImageFailure(
        failures.REASON_VANISHED,
        f"{uri} was listed but is gone when read: {detail}")
  return failures.ImageFailure(failures.REASON_READ_ERROR,
                               f"cannot read {uri}: {detail}")


def input_bytes(item: elements.ImageInput) -> bytes:
  """The input's encoded bytes: its own, or its file's.

  Raises:
    failures.ImageFailure: naming the file, when it cannot be read, with
      the reason :func:`read_failure` gives.
  """
  if item.data is not None:
    return item.data
  path = item.uri_path()
  try:
    return storage.read_bytes(path)
  except Exception as e:  # pylint: disable=broad-except
    raise read_failure(item.uri, path, e, item.listed) from e


class ListedInputDoFn(beam.DoFn):
  """ListedFile -> its ImageInput (the lister ``read.slices`` runs)."""

  def process(self, listed: listing.ListedFile):
    yield listed_input(listed)


class ReadImageFiles(beam.PTransform):
  """Globs -> ``images`` (ImageInput with the path) and ``failures``
  (Failure; none: files fail when they are read).

  Paths are joined by key with ``done``, and those in it dropped; the join
  also spreads reading and decoding across workers. (On the local runner,
  local globs are listed in slices instead, ``read.slices``: no shuffle.)
  """

  def __init__(self, patterns: Sequence[str],
               done: Optional[beam.PCollection] = None,
               live_job: Optional[str] = None):
    super().__init__()
    self._patterns = list(patterns)
    self._done = done
    self._live_job = live_job

  def expand(self, pbegin):
    # A file matched by several globs is one input (listing made it one):
    # the join only drops keys that are done.
    kept = (listing.match_files(pbegin, self._patterns)
            | "Keys" >> beam.Map(listed_input)
            | "KeepNewOnce" >> keep_new.KeepNewOnce(
                self._done, self._live_job))
    return {"images": kept.kept,
            failures.FAILURES_TAG: kept[failures.FAILURES_TAG]}
