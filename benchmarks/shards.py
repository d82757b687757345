"""Shards and Parquet against loose files, side by side in one run.

    python -m benchmarks.shards [--images 2048] [--repeats 2] \
        [--work_dir /tmp/hub_image_beam_shards] [--engine openvino]

The same photos (the benchmark corpus) as loose JPEG files, as 8 WebDataset
tar shards (written by the ``webdataset`` package) and as one Parquet file
of image bytes; the same job over each, as child processes, interleaved so
drift hits all alike (best of ``--repeats``). Then peak memory for one
shard of all the images against 64 shards of 1/64 each: a shard is
streamed, so memory must not grow with shard size. Prints one table.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import Dict, List

from benchmarks import corpus
from benchmarks import run_benchmark

ROOT = run_benchmark.ROOT


def _write_shards(paths: List[str], folder: str, count: int) -> None:
  import webdataset as wds  # pylint: disable=g-import-not-at-top
  os.makedirs(folder, exist_ok=True)
  per = -(-len(paths) // count)
  for shard in range(count):
    with wds.TarWriter(os.path.join(folder, f"{shard:05d}.tar")) as sink:
      for path in paths[shard * per:(shard + 1) * per]:
        with open(path, "rb") as f:
          sink.write({"__key__": os.path.splitext(os.path.basename(path))[0],
                      "jpg": f.read()})


def _write_parquet(paths: List[str], path: str) -> None:
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  images = []
  for p in paths:
    with open(p, "rb") as f:
      images.append(f.read())
  pq.write_table(pa.table({"key": [os.path.basename(p) for p in paths],
                           "image": images}), path, row_group_size=256)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default=run_benchmark.DEFAULT_MODEL)
  parser.add_argument("--images", type=int, default=2048)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--engine", default="openvino")
  parser.add_argument("--work_dir", default="/tmp/hub_image_beam_shards")
  args = parser.parse_args(argv)
  work = args.work_dir
  paths = corpus.ensure_corpus(os.path.join(work, "photos"), args.images)
  shards8, shards1, shards64 = (os.path.join(work, f"shards_{n}")
                                for n in (8, 1, 64))
  for folder, count in ((shards8, 8), (shards1, 1), (shards64, 64)):
    if not os.path.isdir(folder):
      _write_shards(paths, folder, count)
  parquet = os.path.join(work, "images.parquet")
  if not os.path.exists(parquet):
    _write_parquet(paths, parquet)
  loose = run_benchmark.subset_dir(work, paths, args.images)
  py = sys.executable
  base = [py, "-m", "pipelines.embed", "--model", args.model, "--task",
          "classification", "--engine", args.engine, "--overwrite",
          "--openvino_cache", os.path.join(work, "openvino_cache")]
  arms = {
      "loose files": ["--input", os.path.join(loose, "*")],
      "8 tar shards": ["--input_format", "webdataset", "--input",
                       os.path.join(shards8, "*.tar")],
      "1 Parquet file": ["--input_format", "parquet", "--input", parquet],
  }
  memory = {
      "1 shard of all": ["--input_format", "webdataset", "--input",
                         os.path.join(shards1, "*.tar")],
      "64 shards": ["--input_format", "webdataset", "--input",
                    os.path.join(shards64, "*.tar")],
  }
  best: Dict[str, Dict] = {}
  for repeat in range(args.repeats):
    for name, extra in list(arms.items()) + list(memory.items()):
      print(f"{name} (run {repeat + 1}) ...", flush=True)
      run = run_benchmark.run_child(base + extra + [
          "--output", os.path.join(work, "out", name.replace(" ", "_"))])
      kept = best.get(name)
      if kept is None or run["seconds"] < kept["seconds"]:
        best[name] = run
  print()
  print(f"{'arm':<20}{'images':>8}{'wall s':>9}{'img/s':>9}{'peak MB':>9}"
        f"{'vs loose':>10}")
  loose_s = best["loose files"]["seconds"]
  for name in list(arms) + list(memory):
    run = best[name]
    print(f"{name:<20}{args.images:>8}{run['seconds']:>9.1f}"
          f"{args.images / run['seconds']:>9.1f}{run['peak_mb']:>9.0f}"
          f"{loose_s / run['seconds']:>9.2f}x")
  one, many = best["1 shard of all"]["peak_mb"], best["64 shards"]["peak_mb"]
  print(f"peak memory, 1 shard of {args.images} vs 64 shards: {one:.0f} vs "
        f"{many:.0f} MB ({100 * (one / many - 1):+.1f}%)")
  return 0


if __name__ == "__main__":
  sys.exit(main())
