"""How many decode vCPUs a GPU (or CPU) inference pool needs: measured on
the machine this runs on, before a big job.

    python -m benchmarks.capacity --model DIR [--engine auto] \\
        [--input 'photos/*.jpg'] [--target_images_per_s 20000] [--json]

Measures, on this machine:

* the pipeline's feed rate per core: this project's job end to end (list,
  read, decode, resize, batch, rows, write) with a model step that costs
  nothing (:class:`NoCostRunner` stands in for the loaded model), so
  everything but the model is timed, the way issue 21's numbers were made;
* the model's own rate here, including the entry's uint8 -> float32
  conversion (part of the model's graph, so it runs where the model runs):
  on the GPU when TensorFlow sees one, else on this CPU with the chosen
  engine.

Each cost is counted once: a TensorFlow SavedModel that "costs nothing"
still converts every batch to float32 in-graph, 0.15-0.2 ms of CPU per
224 x 224 image on the 2-core test machine, which on a GPU worker is the
GPU's work; timing the feed with it would count that twice.

Given ``--target_images_per_s`` it prints how many decode vCPUs reach that
rate and how many inference workers like this one it takes, with the
assumptions. Run it on one worker-shaped machine with photos like the real
ones (``--input``); the default corpus is 300-800 px JPEGs made from
``../shared`` photos.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import glob
import json
import math
import os
import sys
import tempfile
import time
from typing import Dict, List, Optional, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_PHOTOS = os.path.join(os.path.dirname(ROOT), "shared", "images",
                             "imagenet")


@dataclasses.dataclass(frozen=True)
class Capacity:
  """Measured rates and what they imply for a target rate.

  Attributes:
    cores: this machine's cores, all used by the feed measurement.
    feed_images_per_s: the pipeline with a model step costing nothing, all
      cores.
    model_images_per_s: the model alone, on ``model_device``.
    model_device: ``GPU`` or ``CPU (<engine>)``.
    image_size: the model's input size.
    images: how many images each measurement used.
  """
  cores: int
  feed_images_per_s: float
  model_images_per_s: float
  model_device: str
  image_size: Sequence[int]
  images: int

  @property
  def feed_per_core(self) -> float:
    return self.feed_images_per_s / self.cores

  def plan(self, target: float) -> Dict[str, float]:
    """vCPUs of decode and inference workers like this one for ``target``
    images/s (each rounded up)."""
    return {"target_images_per_s": target,
            "decode_vcpus": math.ceil(target / self.feed_per_core),
            "inference_workers": math.ceil(target /
                                           self.model_images_per_s),
            "model_busy_on_one_worker_fed_by_its_own_cores": min(
                1.0, self.feed_images_per_s / self.model_images_per_s)}


class NoCostRunner:
  """A loaded model whose call costs nothing: ``{"default": zeros [n, 3]}``
  for any batch. Stands in for the model step of a feed measurement
  (``description.ImageRunner``, as the model handler uses it)."""

  engine = "none"
  engine_version = "none"

  def __init__(self, info):
    self.info = info

  def run_uint8(self, images):
    import numpy as np  # pylint: disable=g-import-not-at-top
    return {"default": np.zeros((len(images), 3), np.float32)}


@contextlib.contextmanager
def no_cost_model_step():
  """While open, the job's model handler loads :class:`NoCostRunner`
  instead of the model (this process only: the local runner's workers are
  its threads)."""
  from transforms.model import handler  # pylint: disable=g-import-not-at-top
  original = handler.HubImageModelHandler.load_model

  def load_model(self):
    return NoCostRunner(original(self).info)

  handler.HubImageModelHandler.load_model = load_model
  try:
    yield
  finally:
    handler.HubImageModelHandler.load_model = original


def zero_cost_model(folder: str, size: Sequence[int]) -> str:
  """A SavedModel of the contract that costs nothing: [batch, 3] means."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  module = tf.Module()
  spec = tf.TensorSpec([None, size[0], size[1], 3], tf.float32,
                       name="images")
  module.__call__ = tf.function(
      lambda images: tf.reduce_mean(images, axis=[1, 2]),
      input_signature=[spec])
  path = os.path.join(folder, "zero_cost")
  tf.saved_model.save(module, path)
  return path


def measure_feed(inputs: List[str], size: Sequence[int], work: str,
                 cores: int, model: Optional[str] = None,
                 extra: Sequence[str] = (), no_cost: bool = True) -> float:
  """The job's images/s on all cores (in-process, Beam's local runner, one
  bundle in flight per core), reading a glob as a job does: the slope
  between a run on a quarter of the inputs and one on all, so the job's
  fixed start-up (plan, runner start) is left out.

  Args:
    model: a SavedModel with the job's input size (default: a zero-cost
      one, :func:`zero_cost_model`); it sets the input size and rows.
    no_cost: the model step costs nothing (:func:`no_cost_model_step`);
      False runs ``model`` on TensorFlow, conversion and all.
  """
  from pipelines import embed  # pylint: disable=g-import-not-at-top
  model = model or zero_cost_model(work, size)

  def run(paths: List[str], name: str) -> float:
    pattern = _linked(paths, os.path.join(work, f"{name}_inputs"))
    start = time.perf_counter()
    with (no_cost_model_step() if no_cost else contextlib.nullcontext()):
      embed.run(["--model", model, "--input", pattern, "--engine",
                 "tensorflow", "--direct_num_workers", str(cores),
                 "--overwrite", *extra,
                 "--output", os.path.join(work, name)]).wait_until_finish()
    return time.perf_counter() - start

  run(inputs[:2], "warm")  # imports, the first trace, the runner's start
  few = inputs[:max(1, len(inputs) // 4)]
  seconds_few, seconds_all = run(few, "few"), run(inputs, "all")
  more = seconds_all - seconds_few
  if more <= 0:
    return len(inputs) / seconds_all  # too few inputs for a slope
  return (len(inputs) - len(few)) / more


def _linked(paths: List[str], folder: str) -> str:
  """A folder of links to ``paths`` (once each, in order); its glob."""
  os.makedirs(folder, exist_ok=True)
  for i, path in enumerate(paths):
    link = os.path.join(folder, f"{i:07d}_{os.path.basename(path)}")
    if not os.path.lexists(link):
      os.symlink(os.path.abspath(path), link)
  return os.path.join(folder, "*")


def measure_model(model: str, engine: str, size: Sequence[int],
                  images: int, batch: int) -> Dict:
  """The model alone on uint8 batches: on the GPU if TensorFlow sees one."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from transforms.model import process_policy  # pylint: disable=g-import-not-at-top
  from transforms.model import settings as model_settings  # pylint: disable=g-import-not-at-top
  from transforms.model.tensorflow import lean_import as tf_import  # pylint: disable=g-import-not-at-top
  gpu = bool(tf_import.import_tensorflow().config.list_physical_devices(
      "GPU"))
  # On a GPU, TensorFlow; on CPU the engine asked for (auto measures
  # OpenVINO, what auto picks for a model it runs faithfully).
  chosen = model_settings.ENGINE_TENSORFLOW if gpu else engine
  if chosen == model_settings.ENGINE_AUTO:
    chosen = model_settings.ENGINE_OPENVINO
  runner = process_policy.load_for(
      model_settings.ModelSettings(handle=model, openvino_cache=None),
      (int(size[0]), int(size[1])), chosen)
  pixels = np.random.default_rng(0).integers(
      0, 256, (batch, size[0], size[1], 3), dtype=np.uint8)
  runner.run_uint8(pixels)  # warm-up
  calls = max(1, images // batch)
  start = time.perf_counter()
  for _ in range(calls):
    runner.run_uint8(pixels)
  rate = calls * batch / (time.perf_counter() - start)
  return {"rate": rate, "device": "GPU" if gpu else f"CPU ({chosen})"}


def model_size(model: str) -> Sequence[int]:
  from transforms.model import precision  # pylint: disable=g-import-not-at-top
  from transforms.model import process_policy  # pylint: disable=g-import-not-at-top
  from transforms.model import settings as model_settings  # pylint: disable=g-import-not-at-top
  info = process_policy.load_tensorflow(
      model_settings.ModelSettings(handle=model), None,
      precision.FLOAT32).info
  size = info.expected_image_size
  if size is None:
    raise SystemExit("the model accepts any size: give --image_size H,W")
  return size


def measure(model: str, engine: str, inputs: List[str],
            image_size: Optional[Sequence[int]] = None, batch: int = 32,
            model_images: int = 256) -> Capacity:
  cores = os.cpu_count() or 1
  size = tuple(image_size or model_size(model))
  with tempfile.TemporaryDirectory(prefix="capacity_") as work:
    feed = measure_feed(inputs, size, work, cores)
  bound = measure_model(model, engine, size, model_images, batch)
  return Capacity(cores=cores, feed_images_per_s=feed,
                  model_images_per_s=bound["rate"],
                  model_device=bound["device"], image_size=size,
                  images=len(inputs))


def format_report(capacity: Capacity, targets: Sequence[float]) -> str:
  lines = [
      f"this machine: {capacity.cores} cores; model input "
      f"{capacity.image_size[0]}x{capacity.image_size[1]}; "
      f"{capacity.images} images",
      f"feed (list + read + decode + resize + rows + write, model step "
      f"costing nothing): "
      f"{capacity.feed_images_per_s:.1f} images/s on {capacity.cores} "
      f"cores = {capacity.feed_per_core:.1f} per core",
      f"model alone on {capacity.model_device}: "
      f"{capacity.model_images_per_s:.1f} images/s"]
  for target in targets:
    plan = capacity.plan(target)
    lines.append(
        f"for {target:g} images/s: {plan['decode_vcpus']} decode vCPUs and "
        f"{plan['inference_workers']} inference worker(s) like this one")
  lines.append(
      "assumptions: decode scales linearly with vCPUs (issue 21 measured "
      "473 -> 5,172 images/s on 1 -> 16 cores); the photos measured are "
      "like the job's (size matters: 12 MP photos decode ~7 x slower); "
      "batches as measured here (GPU throughput grows with batch size)")
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", required=True)
  parser.add_argument("--engine", default="auto",
                      help="engine for the CPU model rate (GPU: tensorflow)")
  parser.add_argument("--input", nargs="+", default=None,
                      help="photos like the job's (default: a generated "
                      "corpus of 300-800 px JPEGs)")
  parser.add_argument("--images", type=int, default=1024,
                      help="corpus size when --input is not given")
  parser.add_argument("--image_size", default=None, help="H,W")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--target_images_per_s", type=float, action="append",
                      default=None)
  parser.add_argument("--json", action="store_true")
  args = parser.parse_args(argv)
  from pipelines.cli import quiet  # pylint: disable=g-import-not-at-top
  quiet.configure(False)
  with tempfile.TemporaryDirectory(prefix="capacity_corpus_") as corpus_dir:
    if args.input:
      inputs = sorted(p for pattern in args.input for p in glob.glob(pattern))
    else:
      from benchmarks import corpus  # pylint: disable=g-import-not-at-top
      inputs = corpus.make_corpus(SHARED_PHOTOS, corpus_dir, args.images)
    size = tuple(int(v) for v in args.image_size.split(",")) if (
        args.image_size) else None
    capacity = measure(args.model, args.engine, inputs, size,
                       args.batch_size)
  targets = args.target_images_per_s or []
  if args.json:
    print(json.dumps({**dataclasses.asdict(capacity),
                      "feed_per_core": capacity.feed_per_core,
                      "plans": [capacity.plan(t) for t in targets]},
                     indent=1))
  else:
    print(format_report(capacity, targets))
  return 0


if __name__ == "__main__":
  sys.exit(main())
