"""Feed rate: this pipeline with a model that costs nothing against this
project's decode function alone, on the same cores, side by side (issue 21).

    python -m benchmarks.feed_rate [--images 2048] [--repeats 2] \\
        [--photos generated|shared] [--pipeline_args '--decode_threads 2']

Photos: ``generated`` (default) are 300-800 px JPEGs cut from the shared
photos (``benchmarks.corpus``); ``shared`` are the 12 shared photos
themselves (500-1352 px, JPEG and BMP), repeated: issue 21's corpus.

Decode alone: ``cores`` threads read each file and call
``transforms.decode.resize.prepare_image`` (Pillow releases the GIL), the
upper bound of what any pipeline around it can feed. The pipeline: the job
end to end on a glob (list, read, decode, resize, batch, the model step,
rows, Parquet) on the local runner with one bundle in flight per core, its
fixed start-up left out by timing a quarter of the images and all of them
(the slope), measured twice:

* ``pipeline``: the model step costs nothing (``capacity.NoCostRunner``):
  the feed, as a right-fitted job's CPU workers or a GPU worker's CPUs see
  it (the model's graph, its float conversion included, runs on the GPU);
* ``pipeline_tf_zero_model``: a zero-cost SavedModel (``[batch, 3]`` means)
  run by TensorFlow on these cores, so the entry's uint8 -> float32
  conversion and TensorFlow's thread pools compete with decoding here.

The three alternate, ``--repeats`` times; each keeps its best.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from concurrent import futures
from typing import List

from benchmarks import capacity
from benchmarks import corpus
from benchmarks import run_benchmark


def decode_alone(paths: List[str], size, threads: int) -> float:
  """images/s of read + prepare_image over ``paths`` in ``threads``."""
  from transforms.decode import resize  # pylint: disable=g-import-not-at-top
  from transforms.decode import settings as decode_settings  # pylint: disable=g-import-not-at-top
  d = decode_settings.DecodeSettings()

  def one(path):
    with open(path, "rb") as f:
      data = f.read()
    return resize.prepare_image(data, size, d.resize, d.max_pixels,
                                d.jpeg_draft)

  with futures.ThreadPoolExecutor(threads) as pool:
    list(pool.map(one, paths[:threads * 4]))  # warm-up
    start = time.perf_counter()
    for _ in pool.map(one, paths):
      pass
    return len(paths) / (time.perf_counter() - start)


def photos(kind: str, work_dir: str, count: int) -> List[str]:
  """``count`` photo paths of the ``kind`` the module docstring names."""
  if kind == "shared":
    shared = corpus.photos_in(capacity.SHARED_PHOTOS)
    return [shared[i % len(shared)] for i in range(count)]
  all_dir = os.path.join(work_dir, "all")
  existing = sorted(os.listdir(all_dir)) if os.path.isdir(all_dir) else []
  if len(existing) < count:
    corpus.make_corpus(capacity.SHARED_PHOTOS, all_dir, count)
  paths = sorted(os.path.join(all_dir, f) for f in os.listdir(all_dir))
  return paths[:count]


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--images", type=int, default=2048)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--work_dir", default="/tmp/hub_image_beam_bench")
  parser.add_argument("--photos", choices=("generated", "shared"),
                      default="generated")
  parser.add_argument("--pipeline_args", default="",
                      help="extra flags for the pipeline (quoted)")
  args = parser.parse_args(argv)
  from pipelines.cli import quiet  # pylint: disable=g-import-not-at-top
  quiet.configure(False)
  paths = photos(args.photos, args.work_dir, args.images)
  cores = os.cpu_count() or 1
  size = (224, 224)
  best = {"decode_alone": 0.0, "pipeline": 0.0,
          "pipeline_tf_zero_model": 0.0}
  with tempfile.TemporaryDirectory(prefix="feed_") as work:
    model = capacity.zero_cost_model(work, size)
    extra = shlex.split(args.pipeline_args)
    for repeat in range(args.repeats):
      rate = decode_alone(paths, size, cores)
      best["decode_alone"] = max(best["decode_alone"], rate)
      print(f"decode alone, run {repeat + 1}: {rate:.1f} images/s",
            flush=True)
      for name, no_cost in (("pipeline", True),
                            ("pipeline_tf_zero_model", False)):
        rate = capacity.measure_feed(paths, size, work, cores, model=model,
                                     extra=extra, no_cost=no_cost)
        best[name] = max(best[name], rate)
        print(f"{name}, run {repeat + 1}: {rate:.1f} images/s", flush=True)
  ratios = {f"{name}_ratio": best[name] / best["decode_alone"]
            for name in ("pipeline", "pipeline_tf_zero_model")}
  print(json.dumps({"cpu": run_benchmark.cpu_model(), "cores": cores,
                    "photos": args.photos, "images": len(paths), **best,
                    **ratios}))
  print(f"pipeline / decode alone = {ratios['pipeline_ratio']:.2f}; with "
        f"TensorFlow's zero-cost model: "
        f"{ratios['pipeline_tf_zero_model_ratio']:.2f}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
