"""Throughput benchmark: model bound vs ours vs stock Beam RunInference,
for each inference engine.

    python -m benchmarks.run_benchmark [--images 2048] \
        [--sizes 500,2048,8000] [--stock_sizes 500,2048,8000] [--repeats 2] \
        [--precision bfloat16] [--engines tensorflow,openvino]

Every arm runs as its own child process, one after another, on the same
generated corpus and the same model (all in one run, since these machines
are noisy); ours and stock Beam alternate at each size, and with
``--repeats`` each (arm, size) keeps its best run. The model bound is the
best of one and two callers, measured before and after the other arms.
Steady-state throughput is the inverse slope of wall time over
corpus size (a least-squares line through the runs), so fixed start-up cost
(imports, model load, pipeline start) is separated out as the intercept.
Peak memory is each child's maximum resident set size (``wait4``).
"""
from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List, Sequence, Tuple

from benchmarks import corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
DEFAULT_MODEL = os.path.join(SHARED, "models", "mobilenet_v2_100_224",
                             "classification")


def run_child(argv: Sequence[str], env=None) -> Dict:
  """Runs a command; returns wall seconds, its peak RSS (MB) and stdout."""
  with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile(
      "w+") as err:
    start = time.perf_counter()
    proc = subprocess.Popen(list(argv), stdout=out, stderr=err, env=env,
                            cwd=ROOT, text=True)
    # wait4 gives this child's own resource usage (ru_maxrss in KB).
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    if proc.returncode:
      raise RuntimeError(f"{shlex.join(argv)} failed ({proc.returncode}):\n"
                         f"{err.read()[-3000:]}")
    return {"seconds": seconds, "peak_mb": usage.ru_maxrss / 1024,
            "stdout": out.read()}


def fit_line(points: List[tuple]) -> tuple:
  """Least squares seconds = fixed + images / rate; returns (fixed, rate)."""
  n = len(points)
  mean_x = sum(p[0] for p in points) / n
  mean_y = sum(p[1] for p in points) / n
  sxx = sum((p[0] - mean_x) ** 2 for p in points)
  slope = sum((p[0] - mean_x) * (p[1] - mean_y) for p in points) / sxx
  return mean_y - slope * mean_x, 1.0 / slope


def subset_dir(work: str, files: Sequence[str], count: int) -> str:
  folder = os.path.join(work, f"corpus_{count}")
  if not os.path.isdir(folder):
    os.makedirs(folder)
    for path in files[:count]:
      os.symlink(path, os.path.join(folder, os.path.basename(path)))
  return folder


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default=DEFAULT_MODEL)
  parser.add_argument("--images", type=int, default=2048,
                      help="the size whose wall times are compared directly, "
                      "and the model-bound arm's image count")
  parser.add_argument("--sizes", default="500,2048,8000",
                      help="corpus sizes for ours (scaling and fit)")
  parser.add_argument("--stock_sizes", default="500,2048,8000")
  parser.add_argument("--repeats", type=int, default=1,
                      help="runs per arm and size (best kept), interleaved")
  parser.add_argument("--batch_size", type=int, default=32)
  parser.add_argument("--work_dir", default="/tmp/hub_image_beam_bench")
  parser.add_argument("--ours_args", default="",
                      help="extra flags for pipelines.embed (quoted)")
  parser.add_argument("--precision", default="float32",
                      help="the model bound's and ours (stock Beam runs "
                      "the SavedModel as saved, float32)")
  parser.add_argument("--engines", default="tensorflow,openvino",
                      help="engines for the model bound and ours, side by "
                      "side (stock Beam is TensorFlow)")
  parser.add_argument("--int8", action="store_true",
                      help="add OpenVINO int8 (quantized and gated by a "
                      "first, cold job on the corpus) to the model bound "
                      "and ours")
  parser.add_argument("--skip_stock", action="store_true")
  parser.add_argument("--json_out", default=None)
  args = parser.parse_args(argv)
  sizes = sorted({int(s) for s in args.sizes.split(",")} | {args.images})
  stock_sizes = sorted({int(s) for s in args.stock_sizes.split(",")} |
                       {args.images})
  os.makedirs(args.work_dir, exist_ok=True)
  source = os.path.join(SHARED, "images", "imagenet")
  all_dir = os.path.join(args.work_dir, "all")
  need = max(sizes + stock_sizes)
  existing = sorted(os.listdir(all_dir)) if os.path.isdir(all_dir) else []
  if len(existing) < need:
    print(f"generating {need} corpus images from {source} ...", flush=True)
    corpus.make_corpus(source, all_dir, need)
  files = sorted(os.path.join(all_dir, f) for f in os.listdir(all_dir))
  py = sys.executable
  engines = [e for e in args.engines.split(",") if e]
  if args.int8:
    engines.append(INT8_VARIANT)
  results = {"machine": f"{platform.node()} {platform.machine()}, "
                        f"{os.cpu_count()} CPUs, {cpu_model()}",
             "model": args.model, "batch_size": args.batch_size,
             "precision": args.precision, "engines": engines}
  ov_cache_dir = os.path.join(args.work_dir, "openvino_cache")

  def ours_argv(variant: str, folder: str, out: str) -> List[str]:
    engine, precision = _variant(variant, args.precision)
    return [py, "-m", "pipelines.embed", "--model", args.model,
            "--task", "classification", "--input",
            os.path.join(folder, "*"), "--output", out, "--overwrite",
            "--batch_size", str(args.batch_size), "--precision", precision,
            "--engine", engine, "--openvino_cache", ov_cache_dir] + \
        shlex.split(args.ours_args)

  int8_key = None
  if args.int8:
    # A cold job quantizes (NNCF) and gates; every later one hits the cache.
    folder = subset_dir(args.work_dir, files, args.images)
    out = os.path.join(args.work_dir, "out_int8_cold")
    print("int8: a cold job quantizes and gates ...", flush=True)
    cold = run_child(ours_argv(INT8_VARIANT, folder, out) + ["--requantize"])
    meta = results_metadata(out)
    int8_key = meta["quantized_model"]
    record = json.load(open(os.path.join(ov_cache_dir, int8_key + ".json")))
    results["int8"] = {"cold_job_s": cold["seconds"],
                       "quantize_s": record.get("seconds"),
                       "gate": json.loads(meta["gate"]), "key": int8_key}

  def model_bound(variant: str, callers: int):
    print(f"(a) model bound, {variant}, {callers} caller(s) ...", flush=True)
    engine, precision = _variant(variant, args.precision)
    extra = (["--quantized_key", int8_key, "--openvino_cache", ov_cache_dir]
             if variant == INT8_VARIANT else [])
    run = run_child([py, "-m", "benchmarks.model_bound", "--model",
                     args.model, "--images", str(args.images),
                     "--batch_size", str(args.batch_size), "--callers",
                     str(callers), "--precision", precision,
                     "--engine", engine] + extra)
    measured = json.loads(run["stdout"].strip().splitlines()[-1])
    return measured["images"] / measured["seconds"], run["peak_mb"]

  def ours(variant: str, size: int) -> Dict:
    folder = subset_dir(args.work_dir, files, size)
    # A warm IR cache, as on any run after a model's first.
    return run_child(ours_argv(variant, folder, os.path.join(
        args.work_dir, f"out_ours_{variant}_{size}")))

  def stock(size: int) -> Dict:
    folder = subset_dir(args.work_dir, files, size)
    return run_child([py, "-m", "benchmarks.stock_beam", "--model",
                      args.model, "--input", os.path.join(folder, "*"),
                      "--output", os.path.join(args.work_dir, "out_stock",
                                               "top1"),
                      "--runner", "FnApiRunner"],
                     env=dict(os.environ, TF_USE_LEGACY_KERAS="1"))

  # Measured before and after the other arms; the machine drifts.
  callers = (1, 2)
  before = {(e, c): model_bound(e, c) for e in engines for c in callers}
  arms: Dict[str, Tuple[Callable[[int], Dict], List[int]]] = {
      f"ours_{e}": (functools.partial(ours, e), sizes) for e in engines}
  if not args.skip_stock:
    arms["stock"] = (stock, stock_sizes)
  best: Dict[str, Dict[int, Dict]] = {name: {} for name in arms}
  # Arms alternate within each size, so drift hits both alike.
  for repeat in range(args.repeats):
    for size in sorted(set(sizes) | set(stock_sizes)):
      for name, (arm, arm_sizes) in arms.items():
        if size not in arm_sizes:
          continue
        print(f"{name}, {size} images (run {repeat + 1}) ...", flush=True)
        run = arm(size)
        kept = best[name].get(size)
        if kept is None or run["seconds"] < kept["seconds"]:
          best[name][size] = {"images": size, "seconds": run["seconds"],
                              "peak_mb": run["peak_mb"]}
  for name in arms:
    runs = [best[name][size] for size in sorted(best[name])]
    fixed, rate = fit_line([(r["images"], r["seconds"]) for r in runs])
    results[name] = {"runs": runs, "fixed_s": fixed,
                     "steady_images_per_s": rate}
  after = {(e, c): model_bound(e, c) for e in engines for c in callers}
  results["model_bound"] = {}
  for e in engines:
    first = max(before[(e, c)][0] for c in callers)
    last = max(after[(e, c)][0] for c in callers)
    results["model_bound"][e] = {
        "images_per_s": (first + last) / 2, "first_and_last": [first, last],
        "by_callers": {str(c): [before[(e, c)][0], after[(e, c)][0]]
                       for c in callers},
        "peak_mb": max(max(before[(e, c)][1], after[(e, c)][1])
                       for c in callers)}
  results["compare_at"] = args.images
  if args.int8 and "openvino" in engines:
    results["int8"]["agreement"] = top1_agreement(
        os.path.join(args.work_dir, f"out_ours_openvino_{args.images}"),
        os.path.join(args.work_dir, f"out_ours_{INT8_VARIANT}_{args.images}"))
  print()
  print(format_table(results))
  if args.json_out:
    with open(args.json_out, "w") as f:
      json.dump(results, f, indent=2)
  return 0


INT8_VARIANT = "openvino_int8"


def _variant(variant: str, precision: str) -> Tuple[str, str]:
  """An arm's name -> (engine, precision)."""
  if variant == INT8_VARIANT:
    return "openvino", "int8"
  return variant, precision


def results_metadata(out: str) -> Dict[str, str]:
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top
  path = sorted(p for p in os.listdir(out) if p.startswith("results-"))[0]
  meta = pq.read_schema(os.path.join(out, path)).metadata or {}
  return {k.decode().split(".", 1)[1]: v.decode() for k, v in meta.items()}


def top1_agreement(f32_out: str, int8_out: str) -> Dict[str, float]:
  """Over every image of two runs: the share with the same top-1, and with
  float32's top-1 in int8's top 5."""
  import pyarrow.parquet as pq  # pylint: disable=g-import-not-at-top

  def rows(out):
    found = {}
    for name in sorted(os.listdir(out)):
      if name.startswith("results-"):
        table = pq.read_table(os.path.join(out, name),
                              columns=["key", "top_k_indices"])
        found.update(zip(table.column("key").to_pylist(),
                         table.column("top_k_indices").to_pylist()))
    return found

  a, b = rows(f32_out), rows(int8_out)
  keys = sorted(set(a) & set(b))
  same = sum(a[k][0] == b[k][0] for k in keys)
  in5 = sum(a[k][0] in b[k][:5] for k in keys)
  return {"images": len(keys), "top1": same / len(keys),
          "top1_in_top5": in5 / len(keys)}


def cpu_model() -> str:
  """The CPU's model name and its vector flags that matter here."""
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      text = f.read()
  except OSError:
    return "unknown CPU"
  name = next((line.split(":", 1)[1].strip() for line in text.splitlines()
               if line.startswith("model name")), "unknown CPU")
  found = next((line.split(":", 1)[1].split() for line in text.splitlines()
                if line.startswith("flags")), [])
  wanted = ("avx2", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16",
            "amx_bf16", "amx_int8")
  return f"{name} ({' '.join(f for f in wanted if f in found) or 'no AVX'})"


def format_table(results: Dict) -> str:
  engines = results["engines"]
  lines = [f"machine: {results['machine']}; model: "
           f"{os.path.relpath(results['model'], ROOT)}; batch "
           f"{results['batch_size']}; precision of (a) and (b) "
           f"{results.get('precision', 'float32')}", "",
           f"{'arm':<34}{'images':>8}{'wall s':>9}{'img/s':>9}"
           f"{'peak MB':>9}"]
  for engine in engines:
    bound = results["model_bound"][engine]
    first, last = bound["first_and_last"]
    one, two = (bound["by_callers"][k] for k in ("1", "2"))
    lines.append(f"{'(a) model bound, ' + engine:<34}{'':>8}{'':>9}"
                 f"{bound['images_per_s']:>9.1f}{bound['peak_mb']:>9.0f}"
                 f"   (first {first:.1f}, last {last:.1f}; 1 caller "
                 f"{one[0]:.1f}/{one[1]:.1f}, 2 callers "
                 f"{two[0]:.1f}/{two[1]:.1f})")
  arms = [(f"ours_{e}", f"(b) ours, {e}") for e in engines]
  arms.append(("stock", "(c) stock Beam, tensorflow"))
  for key, name in arms:
    if key not in results:
      continue
    for run in results[key]["runs"]:
      lines.append(f"{name:<34}{run['images']:>8}{run['seconds']:>9.1f}"
                   f"{run['images'] / run['seconds']:>9.1f}"
                   f"{run['peak_mb']:>9.0f}")
  lines.append("")
  tf_bound = results["model_bound"].get("tensorflow", {}).get("images_per_s")
  for key, name in arms:
    if key not in results:
      continue
    rate = results[key]["steady_images_per_s"]
    engine = key.split("_", 1)[1] if key.startswith("ours_") else "tensorflow"
    own = results["model_bound"].get(engine, {}).get("images_per_s")
    text = f"{name + ' steady state:':<42}{rate:7.1f} img/s"
    if own:
      text += f" = {rate / own:.2f} x its engine's bound"
    if tf_bound and engine != "tensorflow":
      text += f", {rate / tf_bound:.2f} x TensorFlow's bound"
    lines.append(text + f"; fixed start-up {results[key]['fixed_s']:.1f} s")
  if "openvino" in engines and "tensorflow" in engines:
    ov = results["model_bound"]["openvino"]["images_per_s"]
    lines.append(f"model alone, openvino / tensorflow:        "
                 f"{ov / tf_bound:.2f} x")
    if "ours_openvino" in results and "ours_tensorflow" in results:
      lines.append(
          f"ours steady state, openvino / tensorflow:   "
          f"{results['ours_openvino']['steady_images_per_s'] / results['ours_tensorflow']['steady_images_per_s']:.2f} x")
  at = results["compare_at"]
  walls = {key: [r["seconds"] for r in results[key]["runs"]
                 if r["images"] == at] for key, _ in arms if key in results}
  if walls.get("stock"):
    for key, name in arms[:-1]:
      if walls.get(key):
        lines.append(f"wall at {at} images, {name} vs stock: "
                     f"{walls[key][0]:.1f} s vs {walls['stock'][0]:.1f} s = "
                     f"{walls['stock'][0] / walls[key][0]:.2f} x faster")
  if "int8" in results:
    info = results["int8"]
    bounds = results["model_bound"]
    if "openvino" in bounds and INT8_VARIANT in bounds:
      lines.append(f"model alone, int8 / float32 (openvino):    "
                   f"{bounds[INT8_VARIANT]['images_per_s'] / bounds['openvino']['images_per_s']:.2f} x")
    ours_int8 = results.get(f"ours_{INT8_VARIANT}")
    if ours_int8 and "ours_openvino" in results:
      lines.append(f"ours steady, int8 / openvino float32:      "
                   f"{ours_int8['steady_images_per_s'] / results['ours_openvino']['steady_images_per_s']:.2f} x")
      lines.append(f"warm start-up, int8 - float32 (openvino):  "
                   f"{ours_int8['fixed_s'] - results['ours_openvino']['fixed_s']:+.1f} s")
    if ours_int8 and "stock" in results:
      lines.append(f"ours steady, int8 / stock Beam:            "
                   f"{ours_int8['steady_images_per_s'] / results['stock']['steady_images_per_s']:.2f} x")
    gate_figures = info["gate"]
    lines.append(f"int8 gate (the cold job's check images): top-1 "
                 f"{gate_figures['top1']}, top-5 {gate_figures['top5']}, "
                 f"cosine mean {gate_figures['mean_cosine']} / p1 "
                 f"{gate_figures['p1_cosine']}")
    if "agreement" in info:
      agree = info["agreement"]
      lines.append(f"int8 vs float32 on all {agree['images']} images: top-1 "
                   f"{agree['top1']:.4f}, float32 top-1 in int8 top-5 "
                   f"{agree['top1_in_top5']:.4f}")
    lines.append(f"int8 cold: quantization {info['quantize_s']} s, whole "
                 f"cold job {info['cold_job_s']:.1f} s")
  for key, name in arms[:-1]:
    runs = results[key]["runs"]
    lines.append(
        f"{name} peak memory {runs[0]['images']} -> {runs[-1]['images']} "
        f"images: {runs[0]['peak_mb']:.0f} -> {runs[-1]['peak_mb']:.0f} MB "
        f"({100 * (runs[-1]['peak_mb'] / runs[0]['peak_mb'] - 1):+.1f}%)")
  return "\n".join(lines)


if __name__ == "__main__":
  sys.exit(main())
