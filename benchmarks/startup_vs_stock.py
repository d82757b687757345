"""Start-up against stock Beam's: one-image jobs, side by side in one run.

    python -m benchmarks.startup_vs_stock [--repeats 5] [--model DIR]

A one-image job is almost all fixed cost (imports, the model's load and
checks, pipeline construction, the runner's start and the sinks' finish).
Arms, each a fresh process, interleaved, ``--repeats`` times (median kept):

* ``stock``: Beam's ``RunInference(TFModelHandlerTensor)``
  (``benchmarks.stock_beam``), TensorFlow;
* ``ours_tensorflow``: ``pipelines.embed --engine tensorflow``;
* ``ours_openvino_tf_load``: ``--engine openvino`` with the converted model
  in the cache but no launch facts (TensorFlow loads, traces and probes the
  model, as every OpenVINO job did before);
* ``ours_openvino``: the same with the launch facts cached as well: no
  TensorFlow import at all (``model/openvino/launch_facts.py``).

Prints the medians and each arm's ratio to stock Beam's.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import statistics
import sys
from typing import Dict, List

from benchmarks import run_benchmark

SHARED_IMAGE = os.path.join(run_benchmark.SHARED, "images", "imagenet")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default=run_benchmark.DEFAULT_MODEL)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--work_dir", default="/tmp/hub_image_beam_startup")
  parser.add_argument("--json_out", default=None)
  args = parser.parse_args(argv)
  work = args.work_dir
  one = os.path.join(work, "one")
  os.makedirs(one, exist_ok=True)
  photo = sorted(glob.glob(os.path.join(SHARED_IMAGE, "*.jpg")))[0]
  link = os.path.join(one, os.path.basename(photo))
  if not os.path.lexists(link):
    os.symlink(photo, link)
  cache = os.path.join(work, "openvino_cache")
  py = sys.executable

  def ours(engine: str) -> List[str]:
    return [py, "-m", "pipelines.embed", "--model", args.model, "--task",
            "classification", "--input", os.path.join(one, "*"), "--output",
            os.path.join(work, f"out_{engine}"), "--overwrite", "--engine",
            engine, "--openvino_cache", cache]

  def forget_facts() -> None:
    for path in glob.glob(os.path.join(cache, "facts-*.json")):
      os.remove(path)

  stock = [py, "-m", "benchmarks.stock_beam", "--model", args.model,
           "--input", os.path.join(one, "*"), "--output",
           os.path.join(work, "out_stock", "top1"), "--runner", "FnApiRunner"]
  # Warm every cache (the IR, the facts) and the page cache first.
  shutil.rmtree(cache, ignore_errors=True)
  run_benchmark.run_child(ours("openvino"))
  run_benchmark.run_child(ours("tensorflow"))
  run_benchmark.run_child(stock)
  arms = {
      "stock": (stock, None),
      "ours_tensorflow": (ours("tensorflow"), None),
      "ours_openvino_tf_load": (ours("openvino"), forget_facts),
      "ours_openvino": (ours("openvino"), None),
  }
  seconds: Dict[str, List[float]] = {name: [] for name in arms}
  for repeat in range(args.repeats):
    for name, (command, before) in arms.items():
      if before is not None:
        before()
      print(f"{name} (run {repeat + 1}) ...", flush=True)
      seconds[name].append(run_benchmark.run_child(command)["seconds"])
      if name == "ours_openvino_tf_load":
        # That run stored the facts again, for the next arm.
        assert glob.glob(os.path.join(cache, "facts-*.json"))
  medians = {name: statistics.median(runs) for name, runs in seconds.items()}
  print()
  print(f"one-image jobs, median of {args.repeats} ({run_benchmark.cpu_model()})")
  for name, median in medians.items():
    print(f"{name:<24} {median:6.2f} s   {median / medians['stock']:.2f} x "
          f"stock   runs {', '.join(f'{s:.2f}' for s in seconds[name])}")
  if args.json_out:
    with open(args.json_out, "w") as f:
      json.dump({"seconds": seconds, "medians": medians}, f, indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main())
