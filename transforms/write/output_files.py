"""The names of what a run writes under ``--output``, declared once.

    results-SSSSS-of-NNNNN.<ext>          the results (sinks)
    failures/failures-SSSSS-of-NNNNN.<ext> the failures
    run.json                               what the run recorded (run_record)
    report.html                            pipelines.report's page
    index/                                 pipelines.index's index
    beam-temp-*/                           a killed run's unfinished shards

The plan, ``--skip_existing``, the run record and the report all find files
by these names.
"""
from __future__ import annotations

import posixpath

from apache_beam.io.filesystems import FileSystems

RESULTS_PREFIX = "results"
FAILURES_DIR = "failures"
FAILURES_PREFIX = "failures"
RUN_FILE = "run.json"
REPORT_FILE = "report.html"
# pipelines.index's default folder (never named results-*).
INDEX_DIR = "index"
TEMP_PREFIX = "beam-temp-"


def results_prefix(output: str) -> str:
  return FileSystems.join(output, RESULTS_PREFIX)


def failures_prefix(output: str) -> str:
  return FileSystems.join(output, FAILURES_DIR, FAILURES_PREFIX)


def results_glob(output: str) -> str:
  return results_prefix(output) + "-*"


def failures_glob(output: str) -> str:
  return failures_prefix(output) + "-*"


def is_temporary(path: str) -> bool:
  """Inside a ``beam-temp-*`` folder: a killed run's unfinished shards."""
  return any(part.startswith(TEMP_PREFIX) for part in path.split("/"))


def is_side_file(path: str) -> bool:
  """A failures shard, the run record or the report: never results."""
  name = posixpath.basename(path)
  return (name.startswith(FAILURES_PREFIX + "-") or
          name in (RUN_FILE, REPORT_FILE))
