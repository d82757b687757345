"""Wires the embed/classify job: read, count, decode, infer, build rows,
write; failures from every stage to one failures output.

Every step has a stable label; Dataflow's UI, metrics and job updates key on
them. Each stage is given only its own settings.
"""
from __future__ import annotations

import apache_beam as beam
from apache_beam.ml.inference.base import KeyedModelHandler, RunInference

from transforms.core import counters
from transforms.core import failures
from transforms.decode import dofn as decode_dofn
from transforms.job import plan as plan_lib
from transforms.model import handler
from transforms.read import source
from transforms.write import columns
from transforms.write import dofn as write_dofn
from transforms.write import settings as write_settings
from transforms.write import sinks


def build(pipeline: beam.Pipeline, plan: plan_lib.JobPlan) -> None:
  """Adds the whole job to ``pipeline``."""
  read = pipeline | "ReadInputs" >> source.ReadInputs(plan.read)
  # Inputs are counted once, here, whatever the source: each element of
  # either output of the source is one input.
  images = read["images"] | "CountInputs" >> beam.ParDo(
      counters.CountInputDoFn())
  read_failures = read[failures.FAILURES_TAG] | "CountReadFailures" >> (
      beam.ParDo(counters.CountInputDoFn()))
  decoded = images | "DecodeImages" >> decode_dofn.decode_images(plan.decode)
  keyed_handler: KeyedModelHandler = KeyedModelHandler(
      handler.HubImageModelHandler(plan.model))
  predicted = decoded.images | "RunInference" >> RunInference(keyed_handler)
  built = predicted | "BuildRows" >> write_dofn.build_rows(plan.layout)
  write = plan.write
  _ = built.rows | "WriteResults" >> sinks.make_sink(
      write.output_format, plan.results_prefix, plan.results_schema,
      write.compression, write.num_shards)
  all_failures = ((read_failures, decoded[failures.FAILURES_TAG],
                   built[failures.FAILURES_TAG])
                  | "CollectFailures" >> beam.Flatten()
                  | "CountFailures" >> beam.ParDo(counters.CountFailureDoFn()))
  if write.failures_format == write_settings.FAILURES_AS_RESULTS:
    failure_sink = sinks.make_sink(write.output_format, plan.failures_prefix,
                                   columns.FAILURE_SCHEMA, write.compression)
  else:
    failure_sink = sinks.make_sink(sinks.JSONL, plan.failures_prefix,
                                   columns.FAILURE_SCHEMA, "none")
  _ = all_failures | "WriteFailures" >> failure_sink
