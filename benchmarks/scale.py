"""The default local job at scale: N tiny images with a null model, per
source, side by side in one run.

    python -m benchmarks.scale --sizes 10000,100000,1000000 \
        --sources files,manifest,parquet,webdataset --work /tmp/scale

Each (N, source) runs the job as a user does, in a process of its own with
default flags (``--engine openvino``), and prints:
- wall: command start to exit;
- images/s: N / wall;
- peak RSS of the whole process tree, sampled every 0.25 s (psutil);
- launch: command start to the first result counted (the job's live
  counts, one batch after the first image is decoded).

A warm-up run converts the model first (cached for the measured runs).
Inputs are 64 distinct 48 x 48 JPEGs, hard-linked (files) or referenced
(manifest) or copied (Parquet, WebDataset) N times, so a million inputs
cost little disk. ``photos`` is the real-sized run: 2,048 photo crops
(300-800 px) hard-linked N times, through MobileNet V2 feature vectors in
int8 (quantized and gated on the job's sample, in the launch time). The model is a ``tf.Module`` returning the images' mean
over height and width, as in issue 34.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np
from PIL import Image

_SIZE = 224


def _tiny_jpegs(folder: str) -> List[str]:
  os.makedirs(folder, exist_ok=True)
  rng = np.random.default_rng(0)
  paths = []
  for i in range(64):
    path = os.path.join(folder, f"s{i:02d}.jpg")
    if not os.path.exists(path):
      Image.fromarray(rng.integers(0, 256, (48, 48, 3), dtype=np.uint8)
                      ).save(path, quality=90)
    paths.append(path)
  return paths


def null_model(work: str) -> str:
  path = os.path.join(work, "null_model")
  if not os.path.exists(os.path.join(path, "saved_model.pb")):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top
    module = tf.Module()
    module.__call__ = tf.function(
        lambda images: tf.reduce_mean(images, [1, 2]),
        input_signature=[tf.TensorSpec([None, _SIZE, _SIZE, 3], tf.float32)])
    tf.saved_model.save(module, path)
  return path


def make_inputs(work: str, source: str, n: int) -> List[str]:
  """The job's input flags for ``n`` inputs of ``source``."""
  tiny = _tiny_jpegs(os.path.join(work, "tiny"))
  folder = os.path.join(work, f"{source}_{n}")
  done = folder + ".done"   # beside the inputs, never among them
  os.makedirs(folder, exist_ok=True)
  names = [f"{i // 1000:04d}_{i % 1000:03d}.jpg" for i in range(n)]
  if source == "files":
    if not os.path.exists(done):
      for i, name in enumerate(names):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
          os.link(tiny[i % 64], path)
    flags = ["--input", os.path.join(folder, "*")]
  elif source == "manifest":
    path = os.path.join(folder, "manifest.csv")
    if not os.path.exists(done):
      with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "uri"])
        for i, name in enumerate(names):
          writer.writerow([name, tiny[i % 64]])
    flags = ["--input_format", "manifest", "--input", path,
             "--uri_column", "uri", "--key_column", "key"]
  elif source == "parquet":
    import pyarrow as pa  # pylint: disable=g-import-not-at-top
    import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
    data = [open(p, "rb").read() for p in tiny]
    shard = 10_000
    if not os.path.exists(done):
      for start in range(0, n, shard):
        part = names[start:start + shard]
        pq.write_table(pa.table({
            "key": part,
            "image": [data[(start + i) % 64] for i in range(len(part))]}),
                       os.path.join(folder, f"part-{start // shard:05d}.parquet"),
                       row_group_size=1000)
    flags = ["--input_format", "parquet", "--input",
             os.path.join(folder, "*.parquet"), "--image_column", "image",
             "--key_column", "key"]
  elif source == "webdataset":
    data = [open(p, "rb").read() for p in tiny]
    shard = 10_000
    if not os.path.exists(done):
      for start in range(0, n, shard):
        with tarfile.open(os.path.join(
            folder, f"shard-{start // shard:05d}.tar"), "w") as tar:
          for i in range(start, min(n, start + shard)):
            blob = data[i % 64]
            info = tarfile.TarInfo(f"{names[i][:-4]}.jpg")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    flags = ["--input_format", "webdataset", "--input",
             os.path.join(folder, "*.tar")]
  elif source == "photos":
    # Real-sized photos (2,048 crops of the shared ones, 300-800 px,
    # hard-linked) through MobileNet V2 feature vectors in int8, quantized
    # and gated on the job's own spread sample (issue 34's real-photo run).
    from benchmarks import corpus  # pylint: disable=g-import-not-at-top
    photos = corpus.ensure_corpus(os.path.join(work, "corpus"), 2048)
    if not os.path.exists(done):
      for i, name in enumerate(names):
        path = os.path.join(folder, name)
        if not os.path.exists(path):
          os.link(photos[i % len(photos)], path)
    shared = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))), "shared")
    flags = ["--input", os.path.join(folder, "*"), "--model", os.path.join(
        shared, "models", "mobilenet_v2_100_224", "feature_vector"),
             "--precision", "int8", "--openvino_cache",
             os.path.join(work, "ov_cache")]
  else:
    raise SystemExit(f"unknown source {source!r}")
  open(done, "w").close()
  return flags


def _child(argv: List[str], first_file: str) -> int:
  """Runs the job as the command does, recording when the first result is
  counted."""
  from pipelines import embed  # pylint: disable=g-import-not-at-top
  from pipelines.cli import progress  # pylint: disable=g-import-not-at-top
  original = progress.reporting

  def reporting(stream=None):
    manager = original(stream)
    job = manager.__enter__()
    job[1].observers.append(
        lambda counts: counts[0] >= 1 and _stamp(first_file))
    return _Entered(manager, job)

  progress.reporting = reporting
  return embed.main(argv)


class _Entered:

  def __init__(self, manager, value):
    self._manager, self._value = manager, value

  def __enter__(self):
    return self._value

  def __exit__(self, *exc):
    return self._manager.__exit__(*exc)


def _stamp(path: str) -> None:
  if not os.path.exists(path):
    with open(path, "w") as f:
      f.write(repr(time.time()))


def tree_peak_rss(proc: subprocess.Popen, limit_gb: float) -> int:
  """Waits for ``proc``; the peak RSS in bytes of it and its descendants
  (processes, not threads), sampled every 0.25 s. Kills it over
  ``limit_gb``."""
  return tree_peak_memory(proc, limit_gb)[0]


def tree_peak_memory(proc: subprocess.Popen, limit_gb: float
                     ) -> Tuple[int, int]:
  """As ``tree_peak_rss``; returns (peak RSS, peak anonymous memory): RSS
  less its file-backed and shared pages (a memory-mapped file read counts
  in RSS, but the kernel reclaims those pages as page cache)."""
  import psutil  # pylint: disable=g-import-not-at-top
  root, peak, peak_anon = psutil.Process(proc.pid), 0, 0
  while proc.poll() is None:
    try:
      infos = [p.memory_info() for p in [root] + root.children(recursive=True)]
      rss = sum(i.rss for i in infos)
      anon = sum(i.rss - i.shared for i in infos)
    except psutil.Error:
      rss = anon = 0
    peak, peak_anon = max(peak, rss), max(peak_anon, anon)
    if rss > limit_gb * 2**30:
      proc.kill()
    time.sleep(0.25)
  return peak, peak_anon


def measure(work: str, source: str, n: int, limit_gb: float,
            job_flags: Sequence[str] = ()) -> Dict:
  flags = make_inputs(work, source, n)
  out = os.path.join(work, "out", f"{source}_{n}")
  first = os.path.join(work, f"first_{source}_{n}")
  if os.path.exists(first):
    os.remove(first)
  model = [] if "--model" in flags else ["--model", null_model(work)]
  argv = [*model, "--output", out, "--overwrite", "--engine", "openvino",
          *flags, *job_flags]
  start = time.time()
  proc = subprocess.Popen(
      [sys.executable, "-m", "benchmarks.scale", "--child", first, "--",
       *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  peak = tree_peak_rss(proc, limit_gb)
  wall = time.time() - start
  output = proc.stdout.read() if proc.stdout else ""
  launch = (float(open(first).read()) - start) if os.path.exists(first) \
      else None
  return {"source": source, "n": n, "exit": proc.returncode,
          "wall_s": round(wall, 1), "images_per_s": round(n / wall, 1),
          "peak_rss_mb": peak >> 20,
          "launch_s": None if launch is None else round(launch, 1),
          "summary": [l for l in output.splitlines()
                      if l.startswith(("results written", "failures:"))]}


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  if argv[:1] == ["--child"]:
    return _child(argv[3:], argv[1])
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--sizes", default="10000,100000,1000000")
  parser.add_argument("--sources", default="files,manifest,parquet,webdataset")
  parser.add_argument("--work", default="/tmp/hub_image_beam_scale")
  parser.add_argument("--limit_gb", type=float, default=12.0,
                      help="kill a run whose process tree passes this")
  parser.add_argument("--arm", action="append", default=None,
                      metavar="NAME=FLAGS",
                      help="a set of extra job flags, run side by side with "
                      "the others for each N and source (repeatable; "
                      "default: one arm, 'default', with none)")
  args = parser.parse_args(argv)
  arms = [tuple(a.split("=", 1)) for a in (args.arm or ["default="])]
  # Warm-up, not reported: the first run converts the model to OpenVINO
  # (about 2 GB at peak, once per machine); every measured run finds it
  # cached, as a user's second job does.
  measure(args.work, "files", 64, args.limit_gb)
  rows = []
  for n in [int(s) for s in args.sizes.split(",")]:
    for source in args.sources.split(","):
      for name, flags in arms:
        row = measure(args.work, source, n, args.limit_gb, flags.split())
        row["arm"] = name
        rows.append(row)
        print(json.dumps(row), flush=True)
  print("\n| N | source | arm | exit | wall s | images/s | peak RSS MB | "
        "launch s |")
  print("|---|---|---|---|---|---|---|---|")
  for r in rows:
    print(f"| {r['n']:,} | {r['source']} | {r['arm']} | {r['exit']} | "
          f"{r['wall_s']} | {r['images_per_s']} | {r['peak_rss_mb']:,} | "
          f"{r['launch_s']} |")
  return 0


if __name__ == "__main__":
  sys.exit(main())
