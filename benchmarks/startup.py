"""Where the fixed start-up goes: one job on one image, phase by phase.

    python -m benchmarks.startup [--model DIR] [--repeats 3]

Each repeat is a fresh process (imports are part of start-up) that runs the
phases of ``pipelines.embed`` in order with a clock around each: TensorFlow
and Beam imports, flags, the plan (model load, trace and probe through the
workers' uint8 entry point, input and output checks), pipeline
construction, and the run of one image on the local runner (runner start,
the worker taking the launcher's model, sink finalization). Prints the
median of each phase.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODEL = os.path.join(os.path.dirname(ROOT), "shared", "models",
                             "mobilenet_v2_100_224", "classification")
DEFAULT_IMAGE = os.path.join(os.path.dirname(ROOT), "shared", "images",
                             "imagenet", "cat.bmp")

_CHILD = r'''
import json, sys, time
phases = [("interpreter start", time.time() - float(sys.argv.pop(1)))]
clock = [time.monotonic()]
def mark(name):
  now = time.monotonic()
  phases.append((name, now - clock[0]))
  clock[0] = now
from pipelines.cli import quiet
quiet.configure(False)
mark("import TensorFlow (quiet)")
import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions
from transforms.job import options as options_lib
from transforms import api
from transforms.job import plan as job_plan
from transforms.model import contract
from transforms.model.tensorflow import savedmodel as tf_savedmodel
mark("import Beam and the job")
argv = options_lib.expand_config_file(sys.argv[1:])
options = PipelineOptions(argv)
config = options_lib.build_config(options)
mark("flags and config")
timed = {}
def timer(module, name, label):
  original = getattr(module, name)
  def wrapped(*a, **k):
    t = time.monotonic()
    try:
      return original(*a, **k)
    finally:
      timed[label] = timed.get(label, 0.0) + time.monotonic() - t
  setattr(module, name, wrapped)
timer(tf_savedmodel, "load_saved_model", "plan: load SavedModel")
timer(contract, "probe_output", "plan: probe (traces the uint8 entry)")
job_plan_start = time.monotonic()
plan = job_plan.plan_job(config)
plan_total = time.monotonic() - job_plan_start
phases.extend(timed.items())
phases.append(("plan: the rest (describe, labels, inputs, output)",
               plan_total - sum(timed.values())))
clock[0] = time.monotonic()
options_lib.apply_local_runner_defaults(options)
pipeline = beam.Pipeline(options=options)
api.build_command(pipeline, plan)
mark("pipeline construction")
pipeline.run().wait_until_finish()
mark("run 1 image (runner, worker, sinks)")
print("PHASES " + json.dumps(phases), flush=True)
print("EXIT_FROM " + repr(time.time()), flush=True)
from pipelines.cli import process_exit
process_exit.exit_now(0)
'''


def _tagged(lines, tag: str) -> str:
  return [l for l in lines if l.startswith(tag)][-1][len(tag):]


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
  parser.add_argument("--model", default=DEFAULT_MODEL)
  parser.add_argument("--image", default=DEFAULT_IMAGE)
  parser.add_argument("--repeats", type=int, default=3)
  args = parser.parse_args(argv)
  runs = []
  with tempfile.TemporaryDirectory() as tmp:
    for i in range(args.repeats):
      done = subprocess.run(
          [sys.executable, "-c", _CHILD, repr(time.time()), "--model", args.model, "--task",
           "classification", "--input", args.image, "--output",
           f"{tmp}/out{i}"], cwd=ROOT, capture_output=True, text=True,
          check=True, env=dict(os.environ, PYTHONPATH=ROOT))
      ended = time.time()
      lines = done.stdout.splitlines()
      phases = json.loads(_tagged(lines, "PHASES "))
      phases.append(("interpreter exit", ended - float(_tagged(
          lines, "EXIT_FROM "))))
      runs.append(phases)
  print(f"{'phase':46s} median s  (runs)")
  total = 0.0
  for index, (name, _) in enumerate(runs[0]):
    values = [run[index][1] for run in runs]
    total += statistics.median(values)
    print(f"{name:46s} {statistics.median(values):7.2f}  "
          f"({', '.join(f'{v:.2f}' for v in values)})")
  print(f"{'total':46s} {total:7.2f}")


if __name__ == "__main__":
  main()
