"""The write stage's act on ``--output`` before a job: clear it.

A new run's shards must never mix with an old run's. An output location that
already holds results or failures is refused unless ``--overwrite`` says to
delete them; with ``--overwrite`` or ``--skip_existing``, a killed run's
``beam-temp-*`` folders are removed (they are never results).
"""
from __future__ import annotations

import glob as glob_lib
import os
from typing import List, Sequence

from apache_beam.io.filesystems import FileSystems

from transforms.core import flags
from transforms.write import output_files
from transforms.write import settings as write_settings


def clear_output(settings: write_settings.WriteSettings,
                 earlier_results: Sequence[str] = ()) -> None:
  """Readies ``settings.output`` for this run's shards.

  Args:
    settings: the write stage's settings.
    earlier_results: result files ``--skip_existing`` reads (never deleted).

  Raises:
    flags.ConfigError: the location holds results and --overwrite is off,
      or --overwrite would delete a file --skip_existing reads.
  """
  existing = existing_outputs(settings.output)
  if settings.overwrite or earlier_results:
    remove_temporary(settings.output)
  if settings.overwrite:
    remove_index(settings.output)
  if not existing:
    return
  reused = sorted(set(existing) & set(earlier_results))
  if reused and settings.overwrite:
    raise flags.ConfigError(
        f"--skip_existing reads {reused[0]}, which --overwrite would delete; "
        "expected the earlier results outside --output (write this run to a "
        "new --output)")
  if not settings.overwrite:
    raise flags.ConfigError(
        f"--output {settings.output!r} already holds {len(existing)} result "
        f"or failure files (e.g. {existing[0]}); expected an empty location. "
        "Pass --overwrite to replace them.")
  FileSystems.delete(existing)


def existing_outputs(output: str) -> List[str]:
  """Result and failure shards already under ``output``."""
  patterns = [output_files.results_glob(output),
              output_files.failures_glob(output)]
  return [m.path for result in FileSystems.match(patterns)
          for m in result.metadata_list]


def remove_temporary(output: str) -> None:
  """Deletes a killed run's ``beam-temp-*`` folders under ``output``."""
  temp = output_files.TEMP_PREFIX + "*"
  folders = [output, FileSystems.join(output, output_files.FAILURES_DIR)]
  temporary = [m.path for result in FileSystems.match(
      [FileSystems.join(f, temp) for f in folders] +
      [FileSystems.join(f, temp, "*") for f in folders])
               for m in result.metadata_list]
  if temporary:
    FileSystems.delete(temporary)
  if "://" not in output:  # object stores have no folders left to remove
    for folder in folders:
      for path in glob_lib.glob(os.path.join(folder, temp)):
        FileSystems.delete([path])


def remove_index(output: str) -> None:
  """Deletes ``OUTPUT/index/`` (pipelines.index): it indexes the results
  ``--overwrite`` replaces."""
  folder = FileSystems.join(output, output_files.INDEX_DIR)
  found = [m.path for m in FileSystems.match(
      [FileSystems.join(folder, "*")])[0].metadata_list]
  if found:
    FileSystems.delete(found)
  if "://" not in output and os.path.isdir(folder):
    import shutil  # pylint: disable=g-import-not-at-top
    shutil.rmtree(folder, ignore_errors=True)
