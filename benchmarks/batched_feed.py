"""What a batch-element job would feed: a prototype for issue 21, not the job.

    python -m benchmarks.batched_feed [--images 2048] [--repeats 2]

The job's element is one image from reading to writing, so every image pays
Beam's per-element cost at about a dozen steps. This prototype makes the
element a batch right after the fusion break: paths are listed and spread
(``Reshuffle``), grouped 32 at a time, and one DoFn reads and decodes a
batch with a thread pool (``resize.prepare_image``, one thread per core),
stacks it, calls a zero-cost model and emits the batch's rows; a Parquet
sink writes them. It has none of the job's failure handling, keys or
counters: it answers only how close such a design gets to decode alone, on
the same cores, side by side (decode alone as in ``benchmarks.feed_rate``).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent import futures
from typing import List

import apache_beam as beam
import numpy as np
import pyarrow as pa

from benchmarks import feed_rate


class _DecodeBatch(beam.DoFn):

  def __init__(self, size, threads):
    self._size, self._threads = size, threads
    self._pool = None

  def setup(self):
    self._pool = futures.ThreadPoolExecutor(self._threads)

  def process(self, paths: List[str]):
    from transforms.decode import resize  # pylint: disable=g-import-not-at-top

    def one(path):
      with open(path, "rb") as f:
        return resize.prepare_image(f.read(), self._size)

    pixels = np.stack(list(self._pool.map(one, paths)))
    features = pixels[:, ::56, ::56, :].reshape(len(paths), -1).mean(
        axis=1, dtype=np.float32)  # a model that costs nothing
    for path, value in zip(paths, features):
      yield {"key": path, "value": float(value)}


def batched_rate(paths: List[str], work: str, cores: int) -> float:
  schema = pa.schema([("key", pa.string()), ("value", pa.float32())])

  def run(chosen: List[str], name: str) -> float:
    start = time.perf_counter()
    options = beam.options.pipeline_options.PipelineOptions(
        runner="FnApiRunner", direct_num_workers=cores,
        direct_running_mode="multi_threading")
    with beam.Pipeline(options=options) as p:
      _ = (p | beam.Create(chosen) | beam.Reshuffle()
           | beam.BatchElements(min_batch_size=32, max_batch_size=32)
           | beam.ParDo(_DecodeBatch((224, 224), cores))
           | beam.io.WriteToParquet(os.path.join(work, name), schema))
    return time.perf_counter() - start

  run(paths[:64], "warm")
  few = paths[:len(paths) // 4]
  seconds_few, seconds_all = run(few, "few"), run(paths, "all")
  return (len(paths) - len(few)) / max(seconds_all - seconds_few, 1e-9)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--images", type=int, default=2048)
  parser.add_argument("--repeats", type=int, default=2)
  parser.add_argument("--work_dir", default="/tmp/hub_image_beam_bench")
  args = parser.parse_args(argv)
  all_dir = os.path.join(args.work_dir, "all")
  paths = sorted(os.path.join(all_dir, f) for f in os.listdir(all_dir))
  paths = paths[:args.images]
  cores = os.cpu_count() or 1
  best = {"decode_alone": 0.0, "batched": 0.0}
  with tempfile.TemporaryDirectory(prefix="batched_") as work:
    for repeat in range(args.repeats):
      rate = feed_rate.decode_alone(paths, (224, 224), cores)
      best["decode_alone"] = max(best["decode_alone"], rate)
      print(f"decode alone, run {repeat + 1}: {rate:.1f} images/s",
            flush=True)
      rate = batched_rate(paths, work, cores)
      best["batched"] = max(best["batched"], rate)
      print(f"batched prototype, run {repeat + 1}: {rate:.1f} images/s",
            flush=True)
  print(f"batched prototype / decode alone = "
        f"{best['batched'] / best['decode_alone']:.2f}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
