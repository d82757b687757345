"""Wires the embed/classify job: read, decode, infer, build rows, write.

Every step has a stable label; Dataflow's UI, metrics and job updates key on
them.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from transforms import failures
from transforms import image_dofns
from transforms import job_plan
from transforms import model_handler
from transforms import schema as schema_lib
from transforms import sinks
from transforms import sources


def build(pipeline: beam.Pipeline, plan: job_plan.JobPlan) -> None:
  """Adds the whole job to ``pipeline``."""
  config = plan.config
  read = pipeline | "ReadInputs" >> sources.make_source(config)
  decoded = read["images"] | "DecodeImages" >> beam.ParDo(
      image_dofns.DecodeImageDoFn(plan.image_size, config.resize,
                                  config.max_pixels, config.jpeg_draft,
                                  config.decode_threads)
  ).with_outputs(failures.FAILURES_TAG, main="images")
  handler: KeyedModelHandler = KeyedModelHandler(
      model_handler.HubImageModelHandler(
          plan.model_config, min_batch_size=config.min_batch_size,
          max_batch_size=config.max_batch_size))
  predicted = decoded.images | "RunInference" >> RunInference(handler)
  rows = predicted | "BuildRows" >> beam.ParDo(
      image_dofns.BuildRowDoFn(plan.row_spec)).with_outputs(
          failures.FAILURES_TAG, main="rows")
  _ = rows.rows | "WriteResults" >> sinks.make_sink(
      config.output_format, plan.results_prefix, plan.results_schema,
      config.compression, config.num_shards)
  all_failures = ((read[failures.FAILURES_TAG],
                   decoded[failures.FAILURES_TAG],
                   rows[failures.FAILURES_TAG])
                  | "CollectFailures" >> beam.Flatten()
                  | "CountFailures" >> beam.ParDo(
                      image_dofns.CountFailureDoFn()))
  if config.failures_format == "results":
    failure_sink = sinks.make_sink(config.output_format,
                                   plan.failures_prefix,
                                   schema_lib.FAILURE_SCHEMA,
                                   config.compression)
  else:
    failure_sink = sinks.make_sink(sinks.JSONL, plan.failures_prefix,
                                   schema_lib.FAILURE_SCHEMA, "none")
  _ = all_failures | "WriteFailures" >> failure_sink
