"""Wires the embed/classify job from the library's three transforms
(``transforms.api``): ``ReadImages`` -> ``InferImages`` ->
``WriteResults``, each built from the checked plan, so the command and
the library cannot drift.

Every step has a stable label; Dataflow's UI, metrics and job updates key
on them (``tests/test_dataflow_offline.py`` pins them).
"""
from __future__ import annotations

from typing import Optional

import apache_beam as beam

from transforms import api
from transforms.job import plan as plan_lib
from transforms.write import earlier_results
from transforms.write import parts


def build(pipeline: beam.Pipeline, plan: plan_lib.JobPlan,
          live_job: Optional[str] = None) -> None:
  """Adds the whole job to ``pipeline``.

  Args:
    pipeline: where to add it.
    plan: the planned job.
    live_job: a ``core.live_counts`` job id whose counts the counting steps
      add to, for a live display in the launching process.
  """
  result_parts, failure_parts = parts.part_keys_files(plan.resumed_parts)
  done = earlier_results.EarlierKeys(
      plan.earlier_results + result_parts, plan.earlier_failures,
      failure_parts)
  _ = (pipeline
       | "ReadImages" >> api.ReadImages.planned(plan, done, live_job)
       | "InferImages" >> api.InferImages.planned(plan, live_job)
       | "WriteResults" >> api.WriteResults.planned(plan))
