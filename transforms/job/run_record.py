"""``OUTPUT/run.json``: what a finished run records beside its outputs.

The model, task, image size, score kind and entry point (what Parquet keeps
in its key-value metadata, and TFRecord cannot), the output format and the
summary counts; ``pipelines.report`` reads it.
"""
from __future__ import annotations

import json
from typing import Optional

from apache_beam.io.filesystems import FileSystems

from transforms.job import plan as plan_lib
from transforms.job import summary as summary_lib
from transforms.write import output_files


def write_run_record(plan: plan_lib.JobPlan,
                     summary: Optional[summary_lib.JobSummary] = None) -> str:
  """Written when the job starts (metadata) and again when the launcher has
  the summary (counts)."""
  record: dict = {"metadata": dict(plan.metadata,
                                   output_format=plan.config.write.output_format)}
  if summary is not None:
    record.update({
        "counts": {"inputs": summary.inputs, "results": summary.results,
                   "failures": summary.failures,
                   "skipped_done": summary.skipped_done,
                   "duplicate_keys": summary.duplicate_keys,
                   "fetched": summary.fetched,
                   "fetched_bytes": summary.fetched_bytes},
        "fetch_failures_by_host": summary.fetch_failures_by_host,
        "failures_by_reason": summary.failures_by_reason,
        "seconds": round(summary.seconds, 3),
    })
    resumed = plan.resumed_counts
    if resumed:
      # A resumed job's record counts the whole job: what the killed run
      # committed, and this run's own (which skipped those keys as done).
      counts = record["counts"]
      counts["results"] += resumed["results"]
      counts["failures"] += resumed["failures"]
      counts["inputs"] += resumed["results"] + resumed["failures"]
      counts["skipped_done"] = max(0, counts["skipped_done"] -
                                   resumed["results"] - resumed["failures"])
      record["resumed"] = dict(resumed)
  path = FileSystems.join(plan.output, output_files.RUN_FILE)
  with FileSystems.create(path, mime_type="application/json") as f:
    f.write(json.dumps(record, indent=1, sort_keys=True).encode("utf-8"))
  return path
