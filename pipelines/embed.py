"""Entry point: image files to embeddings or top-k predictions.

    python -m pipelines.embed --model DIR --task classification \
        --labels_file labels.txt --input 'images/*' --output /tmp/out

Every flag can also come from ``--config job.yaml``; unknown flags such as
``--runner`` pass through to Beam. See README.md for all flags.
"""
from __future__ import annotations

import contextlib
import logging
import sys
import time
from typing import List, Optional, Sequence

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from pipelines.cli import quiet

_LOGGER = logging.getLogger("hub_image_beam")


def _start(argv: Optional[Sequence[str]], test_pipeline=None,
           live_job: Optional[str] = None):
  """Returns (plan, options, outcome, result) of the started job."""
  # Imported here so that the quiet TF import in main() happens first.
  from transforms.job import options as options_lib  # pylint: disable=g-import-not-at-top
  from transforms import api  # pylint: disable=g-import-not-at-top
  from transforms.core import storage_emulator  # pylint: disable=g-import-not-at-top
  from transforms.job import dataflow  # pylint: disable=g-import-not-at-top
  from transforms.job import plan as job_plan  # pylint: disable=g-import-not-at-top
  from transforms.job import run_record  # pylint: disable=g-import-not-at-top
  storage_emulator.skip_credential_search()
  argv = options_lib.expand_config_file(
      list(sys.argv[1:] if argv is None else argv))
  options = PipelineOptions(argv)
  config = options_lib.build_config(options)
  options_lib.streaming(options, config)
  plan = job_plan.plan_job(config,
                          workers_here=not dataflow.is_dataflow(options))
  options_lib.apply_local_runner_defaults(options)
  pipeline = test_pipeline or beam.Pipeline(options=options)
  api.build_command(pipeline, plan, live_job)
  outcome = dataflow.outcome(options, plan.config.no_wait)
  if outcome in (dataflow.Outcome.WAIT, dataflow.Outcome.SUBMITTED):
    run_record.write_run_record(plan)
  return plan, options, outcome, pipeline.run()


def run(argv: Optional[Sequence[str]] = None, test_pipeline=None,
        live_job: Optional[str] = None) -> beam.runners.runner.PipelineResult:
  """Builds and starts the job; returns the (running) PipelineResult.

  Args:
    argv: the job's flags (default: the command line's).
    test_pipeline: a pipeline to build into instead of a new one.
    live_job: a ``transforms.core.live_counts`` job id to count into as
      results and failures happen (the command line's progress display).

  Raises:
    transforms.core.flags.ConfigError: a bad flag, before any input is read.
    transforms.model.description.ModelError: a bad model, before any input
      is read.
  """
  return _start(argv, test_pipeline, live_job)[3]


def _print_help() -> None:
  import argparse  # pylint: disable=g-import-not-at-top
  from transforms.job import options as options_lib  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(
      prog="python -m pipelines.embed", description=__doc__,
      usage="python -m pipelines.embed --model M --input GLOB --output DIR "
      "[flags]",
      formatter_class=argparse.RawDescriptionHelpFormatter,
      epilog="Any other flag (--runner, --direct_num_workers, --project, "
      "--region, --temp_location, --setup_file, --labels, ...) goes to "
      "Beam's PipelineOptions; an argument that is neither this tool's nor "
      "Beam's is an error (exit 2).")
  options_lib.EmbedOptions._add_argparse_args(parser)  # pylint: disable=protected-access
  parser.print_help()


def main(argv: Optional[List[str]] = None) -> int:
  """Runs the job to the end, prints the summary; returns the exit status."""
  argv = list(sys.argv[1:] if argv is None else argv)
  if "-h" in argv or "--help" in argv:
    _print_help()
    return 0
  verbose = quiet.wants_verbose(argv)
  quiet.configure(verbose, tensorflow=False)
  from transforms.core import flags  # pylint: disable=g-import-not-at-top
  from transforms.job import dataflow  # pylint: disable=g-import-not-at-top
  from pipelines.cli import progress  # pylint: disable=g-import-not-at-top
  from transforms.job import run_record  # pylint: disable=g-import-not-at-top
  from transforms.job import summary as summary_lib  # pylint: disable=g-import-not-at-top
  from transforms.model import description  # pylint: disable=g-import-not-at-top
  started = time.monotonic()
  try:
    with progress.reporting() as (live_job, _), (
        contextlib.nullcontext() if verbose else quiet.stderr_filtered()):
      plan, options, outcome, result = _start(argv, live_job=live_job)
      if outcome is dataflow.Outcome.WAIT:
        result.wait_until_finish()
  except (flags.ConfigError, description.ModelError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  except Exception as e:  # pylint: disable=broad-except
    _LOGGER.exception("pipeline failed")
    print(f"error: the pipeline failed: {type(e).__name__}: {e}",
          file=sys.stderr)
    return 1
  if outcome is not dataflow.Outcome.WAIT:
    print("\n".join(dataflow.describe(outcome, options, result)))
    return 0
  summary = summary_lib.summarize(result, time.monotonic() - started)
  print(summary.format())
  engine = plan.model.engine
  print(f"engine:            {engine.engine} {engine.version}")
  print(f"precision:         {engine.precision}")
  if engine.reduced is not None:
    print(f"                   {engine.reduced.reason}")
  run_record.write_run_record(plan, summary)
  print(f"results:  {plan.results_prefix}-*")
  print(f"failures: {plan.failures_prefix}-*")
  if summary.exceeds(plan.config.max_failure_rate):
    print(f"error: failure rate {summary.failure_rate:.3f} is above "
          f"--max_failure_rate {plan.config.max_failure_rate}",
          file=sys.stderr)
    return 3
  return 0


if __name__ == "__main__":
  from pipelines.cli import process_exit  # pylint: disable=g-import-not-at-top
  process_exit.exit_now(main())
