"""Where each image's CPU goes in ours, stage by stage, against the composed
limit: everything measured on the same cores in one run (issue 26, part 6).

    python -m benchmarks.pipeline_gap [--images 2048] [--repeats 2]

Arms (each keeps its best over ``--repeats``, interleaved):

* decode alone: read + ``prepare_image`` in one thread per core (the upper
  bound of any pipeline's feed);
* the feed: our job end to end with a model step that costs nothing
  (``capacity.NoCostRunner``), so it is decode plus everything of ours
  around it: Beam, batching, rows, top-k, Parquet;
* the model alone, OpenVINO float32 and int8, on ready batches
  (``benchmarks.model_bound``, the best of one and two callers);
* ours, OpenVINO float32 and int8 (warm caches), steady rate from the slope
  between a quarter of the images and all of them.

The breakdown is in core-milliseconds per image (cores x 1000 / rate): the
decode, ours around it (feed minus decode), and the model. The composed
limits are ``1 / (1/decode + 1/model)`` (what the issue names) and
``1 / (1/feed + 1/model)`` (the same with our own per-image work counted);
ours / each is printed.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from typing import Dict

from benchmarks import capacity
from benchmarks import feed_rate
from benchmarks import run_benchmark


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default=run_benchmark.DEFAULT_MODEL)
  parser.add_argument("--images", type=int, default=2048)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--work_dir", default="/tmp/hub_image_beam_bench")
  parser.add_argument("--json_out", default=None)
  args = parser.parse_args(argv)
  from pipelines.cli import quiet  # pylint: disable=g-import-not-at-top
  quiet.configure(False)
  paths = feed_rate.photos("generated", args.work_dir, args.images)
  cores = os.cpu_count() or 1
  size = (224, 224)
  py = sys.executable
  cache = os.path.join(args.work_dir, "openvino_cache")
  quarter = run_benchmark.subset_dir(args.work_dir, paths, args.images // 4)
  whole = run_benchmark.subset_dir(args.work_dir, paths, args.images)

  def ours_argv(folder: str, precision: str):
    return [py, "-m", "pipelines.embed", "--model", args.model, "--task",
            "classification", "--input", os.path.join(folder, "*"),
            "--output", os.path.join(args.work_dir, f"gap_{precision}"),
            "--overwrite", "--engine", "openvino", "--precision", precision,
            "--openvino_cache", cache]

  # Warm: the IR, the launch facts and the int8 model in the cache.
  run_benchmark.run_child(ours_argv(whole, "float32"))
  run_benchmark.run_child(ours_argv(whole, "int8"))
  key = run_benchmark.results_metadata(
      os.path.join(args.work_dir, "gap_int8"))["quantized_model"]

  def model_alone(precision: str) -> float:
    extra = (["--quantized_key", key, "--openvino_cache", cache]
             if precision == "int8" else [])
    best = 0.0
    for callers in (1, 2):
      run = run_benchmark.run_child(
          [py, "-m", "benchmarks.model_bound", "--model", args.model,
           "--images", str(args.images), "--batch_size", "32", "--callers",
           str(callers), "--precision", precision, "--engine",
           "openvino"] + extra)
      measured = json.loads(run["stdout"].strip().splitlines()[-1])
      best = max(best, measured["images"] / measured["seconds"])
    return best

  def ours(precision: str) -> float:
    few = run_benchmark.run_child(ours_argv(quarter, precision))["seconds"]
    full = run_benchmark.run_child(ours_argv(whole, precision))["seconds"]
    return (args.images - args.images // 4) / max(full - few, 1e-9)

  best: Dict[str, float] = {}

  def keep(name: str, rate: float) -> None:
    print(f"{name}: {rate:.1f} images/s", flush=True)
    best[name] = max(best.get(name, 0.0), rate)

  with tempfile.TemporaryDirectory(prefix="gap_") as work:
    zero = capacity.zero_cost_model(work, size)
    for _ in range(args.repeats):
      keep("decode_alone", feed_rate.decode_alone(paths, size, cores))
      keep("feed", capacity.measure_feed(paths, size, work, cores,
                                         model=zero))
      for precision in ("float32", "int8"):
        keep(f"model_{precision}", model_alone(precision))
        keep(f"ours_{precision}", ours(precision))

  def ms(rate: float) -> float:
    return cores * 1000.0 / rate

  print()
  print(f"{args.images} photos, {cores} cores, {run_benchmark.cpu_model()}")
  print(f"decode alone        {best['decode_alone']:7.1f} img/s  "
        f"{ms(best['decode_alone']):5.2f} core-ms/img")
  print(f"ours around decode  {'':7s}        "
        f"{ms(best['feed']) - ms(best['decode_alone']):5.2f} core-ms/img "
        f"(feed {best['feed']:.1f} img/s)")
  result = dict(best, cores=cores, cpu=run_benchmark.cpu_model())
  for precision in ("float32", "int8"):
    model, mine = best[f"model_{precision}"], best[f"ours_{precision}"]
    limit = 1 / (1 / best["decode_alone"] + 1 / model)
    limit_feed = 1 / (1 / best["feed"] + 1 / model)
    print(f"{precision}: model alone {model:.1f} img/s ({ms(model):.2f} "
          f"core-ms/img); ours {mine:.1f} img/s ({ms(mine):.2f} core-ms/img) "
          f"= {mine / model:.2f} x model alone; composed limit "
          f"{limit:.1f} -> ours {mine / limit:.2f} x; with our feed "
          f"{limit_feed:.1f} -> {mine / limit_feed:.2f} x; unexplained "
          f"{ms(mine) - ms(best['feed']) - ms(model):+.2f} core-ms/img")
    result[f"{precision}_vs_composed"] = mine / limit
    result[f"{precision}_vs_feed_composed"] = mine / limit_feed
  if args.json_out:
    with open(args.json_out, "w") as f:
      json.dump(result, f, indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main())
