"""Wires the embed/classify job: read, decode, infer, build rows, write;
failures from every stage to one failures output.

An element is one input from listing to the decode step, where inputs are
batched; from there to the rows it is one batch (``core.elements``).

Every step has a stable label; Dataflow's UI, metrics and job updates key on
them. Each stage is given only its own settings, plus the facts the model
stage resolved (the image size) as constructor arguments.
"""
from __future__ import annotations

from typing import Optional

import apache_beam as beam
from apache_beam.ml.inference.base import RunInference

from transforms.core import counters
from transforms.core import failures
from transforms.decode import dofn as decode_dofn
from transforms.fetch import dofn as fetch_dofn
from transforms.job import plan as plan_lib
from transforms.model import handler
from transforms.read import settings as read_settings
from transforms.read import source
from transforms.write import columns
from transforms.write import dofn as write_dofn
from transforms.write import earlier_results
from transforms.write import parts
from transforms.write import settings as write_settings
from transforms.write import sinks


def build(pipeline: beam.Pipeline, plan: plan_lib.JobPlan,
          live_job: Optional[str] = None) -> None:
  """Adds the whole job to ``pipeline``.

  Args:
    pipeline: where to add it.
    plan: the planned job.
    live_job: a ``core.live_counts`` job id whose counts the counting steps
      add to, for a live display in the launching process.
  """
  config = plan.config
  result_parts, failure_parts = parts.part_keys_files(plan.resumed_parts)
  done = earlier_results.EarlierKeys(
      plan.earlier_results + result_parts, plan.earlier_failures,
      failure_parts)
  read = pipeline | "ReadInputs" >> source.ReadInputs(
      config.read, done, plan.layout.passthrough_columns, live_job,
      in_slices=plan.workers_here)
  # Inputs are counted once, whatever the source: the decode step counts
  # those it takes, and here those the source could not list or read.
  read_failures = read[failures.FAILURES_TAG] | "CountReadFailures" >> (
      beam.ParDo(counters.CountInputDoFn()))
  images = read["images"]
  fetch_failures = None
  if config.read.input_format in read_settings.URL_FORMATS:
    fetched = images | "FetchImages" >> fetch_dofn.FetchImages(config.fetch)
    images, fetch_failures = fetched["images"], fetched[failures.FAILURES_TAG]
  decoded = images | "DecodeImages" >> decode_dofn.DecodeImages(
      config.decode, plan.model.image_size,
      (config.model.min_batch_size, config.model.max_batch_size))
  engine = plan.model.engine
  model_handler = handler.HubImageModelHandler(
      config.model, plan.model.image_size, engine.engine, engine.precision,
      engine.quantized_key)
  to_model = decoded.images
  placement = config.placement
  if placement.separate:
    # Decode and inference fuse apart: decode on CPU workers, inference on
    # accelerator workers; batches of uint8 pixels at the model's size
    # cross.
    to_model = to_model | "ShuffleToInference" >> beam.Reshuffle()
  inference: beam.PTransform = RunInference(model_handler)
  if placement.resource_hints():
    inference = inference.with_resource_hints(**placement.resource_hints())
  predicted = to_model | "RunInference" >> inference
  built = predicted | "BuildRows" >> write_dofn.build_rows(plan.layout,
                                                           live_job)
  write = config.write
  # Each stage's failures are counted before they are merged, so they are
  # counted as they happen (the step fuses with the one that found them).
  stages = [("CountFailedReads", read_failures)]
  if fetch_failures is not None:
    # Fetch failures are inputs the decode step never takes: counted here.
    stages.append(("CountFailedFetches", fetch_failures | "CountFetchInputs"
                   >> beam.ParDo(counters.CountInputDoFn())))
  stages += [("CountFailedDecodes", decoded[failures.FAILURES_TAG]),
             ("CountFailedInference", built[failures.FAILURES_TAG])]
  stage_failures = [
      stage | label >> beam.ParDo(counters.CountFailureDoFn(live_job))
      for label, stage in stages]
  all_failures = (tuple(stage_failures)
                  | "CollectFailures" >> beam.Flatten()
                  | "FailureRows" >> beam.Map(failures.Failure.as_row))
  _write(plan, built.rows, all_failures)


def _write(plan: plan_lib.JobPlan, rows, failure_rows) -> None:
  """Results and failures to the output: in committed parts (resumable,
  ``write.parts``), or with Beam's sinks for a fixed ``--num_shards``."""
  write = plan.config.write
  if write.failures_format == write_settings.FAILURES_AS_RESULTS:
    failure_format = (write.output_format, write.compression)
  else:
    failure_format = (sinks.JSONL, "none")
  if write.num_shards == 0:
    formats = {
        parts.RESULTS_PARTS: parts.PartFormat(
            write.output_format, plan.results_schema, write.compression),
        parts.FAILURES_PARTS: parts.PartFormat(
            failure_format[0], columns.FAILURE_SCHEMA, failure_format[1])}
    _ = {parts.RESULTS_PARTS: rows, parts.FAILURES_PARTS: failure_rows} | (
        "WriteOutput" >> parts.WriteInParts(plan.output, formats,
                                            plan.identity, write.part_rows))
    return
  _ = rows | "WriteResults" >> sinks.make_sink(
      write.output_format, plan.results_prefix, plan.results_schema,
      write.compression, write.num_shards)
  _ = failure_rows | "WriteFailures" >> sinks.make_sink(
      failure_format[0], plan.failures_prefix, columns.FAILURE_SCHEMA,
      failure_format[1])
