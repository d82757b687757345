"""Dataflow flags checked at launch, and what a launch produced.

Beam checks some Dataflow flags only when it submits, after staging, and
retries a missing local staging folder for minutes; :func:`check_options`
does it first, naming what was expected and what was found. :func:`outcome`
tells the launcher whether the run is one to wait for or one that is over
as soon as it returns (a template written, a dry run, a submitted job with
``--no_wait``).
"""
from __future__ import annotations

import enum
import os
import re
from typing import List, Optional

from apache_beam.options.pipeline_options import GoogleCloudOptions
from apache_beam.options.pipeline_options import PipelineOptions
from apache_beam.options.pipeline_options import StandardOptions
from apache_beam.options.pipeline_options import TestOptions

from transforms.core import flags

DATAFLOW_RUNNERS = ("DataflowRunner", "dataflow")
# "type:nvidia-tesla-t4;count:1;install-nvidia-driver" (Dataflow's syntax).
_ACCELERATOR = re.compile(
    r"^type:[a-z0-9-]+;count:[1-9][0-9]*(;install-nvidia-driver(:[\w.=-]+)?)?"
    r"(;use_nvidia_mps)?$")


class Outcome(enum.Enum):
  WAIT = "wait"              # a running job: wait, then summarize
  TEMPLATE = "template"      # a classic template was written
  DRY_RUN = "dry_run"        # the job was built and not submitted
  SUBMITTED = "submitted"    # submitted with --no_wait


def is_dataflow(options: PipelineOptions) -> bool:
  runner = options.view_as(StandardOptions).runner or ""
  return runner.split(".")[-1] in DATAFLOW_RUNNERS


def _local(path: Optional[str]) -> bool:
  return bool(path) and "://" not in str(path)


def check_options(options: PipelineOptions, no_wait: bool) -> None:
  """Dataflow flags that must be right before anything is staged.

  A local ``--staging_location`` / ``--temp_location`` (or the folder of a
  local ``--template_location``) that does not exist is created (Beam would
  retry writing into it for minutes).

  Raises:
    flags.ConfigError: naming the flag, what was expected and what was found.
  """
  dry_run = options.view_as(TestOptions).dry_run
  if dry_run not in (False, None, "True"):
    # Beam's --dry_run takes any string, and "False" is truthy.
    raise flags.ConfigError(
        f"--dry_run: expected --dry_run=True (or no flag), found {dry_run!r}")
  if not is_dataflow(options):
    if no_wait:
      raise flags.ConfigError(
          "--no_wait: expected --runner DataflowRunner (a local runner "
          f"finishes before it returns), found --runner "
          f"{options.view_as(StandardOptions).runner or 'the default'}")
    return
  gcp = options.view_as(GoogleCloudOptions)
  missing = [f"--{name}" for name in ("project", "region")
             if not getattr(gcp, name)]
  if not (gcp.temp_location or gcp.staging_location):
    missing.append("--temp_location")
  if missing:
    raise flags.ConfigError(
        f"--runner DataflowRunner: expected {', '.join(missing)} (found "
        "none)")
  for service_option in gcp.dataflow_service_options or ():
    name, _, value = service_option.partition("=")
    if name == "worker_accelerator" and not _ACCELERATOR.match(value):
      raise flags.ConfigError(
          "--dataflow_service_options worker_accelerator: expected "
          "'type:TYPE;count:N[;install-nvidia-driver]', found "
          f"{value!r}")
  folders = {flag: getattr(gcp, flag)
             for flag in ("staging_location", "temp_location")}
  if _local(gcp.template_location):
    folders["template_location"] = os.path.dirname(
        os.path.abspath(gcp.template_location))
  for flag, path in folders.items():
    if _local(path) and not os.path.isdir(path):
      try:
        os.makedirs(path, exist_ok=True)
      except OSError as e:
        raise flags.ConfigError(
            f"--{flag}: expected a folder (or gs:// path), and {path!r} "
            f"cannot be created: {e}") from None


def outcome(options: PipelineOptions, no_wait: bool) -> Outcome:
  if options.view_as(TestOptions).dry_run == "True":
    return Outcome.DRY_RUN
  if is_dataflow(options) and options.view_as(
      GoogleCloudOptions).template_location:
    return Outcome.TEMPLATE
  if no_wait:
    return Outcome.SUBMITTED
  return Outcome.WAIT


def describe(kind: Outcome, options: PipelineOptions, result) -> List[str]:
  """What the launcher prints for a run it does not wait for."""
  gcp = options.view_as(GoogleCloudOptions)
  if kind is Outcome.TEMPLATE:
    lines = [f"template written: {gcp.template_location}"]
    staging = gcp.staging_location or gcp.temp_location
    if staging:
      lines.append(f"staged under:     {staging} (pipeline.pb, "
                   "workflow.tar.gz, ...)")
    return lines
  if kind is Outcome.DRY_RUN:
    return ["dry run: the job was built and checked; nothing was staged or "
            "submitted"]
  job_id = result.job_id() if hasattr(result, "job_id") else None
  lines = [f"submitted job: {job_id} (not waiting: --no_wait)"]
  if job_id and gcp.region and gcp.project:
    lines.append(f"console: https://console.cloud.google.com/dataflow/jobs/"
                 f"{gcp.region}/{job_id}?project={gcp.project}")
  return lines
