"""The precision of the model's arithmetic on CPU: float32 or bfloat16
(both engines), int8 or auto (OpenVINO only; see ``precision_choice``).

``float32`` (the default) runs the SavedModel as it was saved.
``bfloat16`` turns on TensorFlow's oneDNN auto-mixed-precision graph rewrite
(grappler's ``auto_mixed_precision_onednn_bfloat16``): convolutions and
matrix products compute in bfloat16, while the model's inputs and outputs
and the ops TensorFlow keeps on its float32 list stay float32. On MobileNet
V2 here it nearly doubles the model's images/s with top-1 unchanged on the
shared photos and feature-vector cosine >= 0.998 to float32
(benchmarks/README.md, "bfloat16 on CPU").

It pays only on CPUs that compute bfloat16 natively (``avx512_bf16`` or
``amx_bf16`` among the CPU flags: Intel Cooper Lake, Sapphire Rapids and
later, AMD Zen 4 and later). TensorFlow rewrites the graph on any CPU: with
AVX-512 but no native bfloat16, oneDNN emulates it at about half of
float32's speed; with AVX2 only, the convolutions fail. So the rewrite is
applied only after the CPU's flags are checked, and a CPU without them is
refused with the flags it has.

The setting is process-wide and is read when a function is first
instantiated; TensorFlow then keeps that compiled form for every later call,
and a model loaded again in the same process can reuse it (seen here: a
bfloat16 job after a float32 one on the same model, in one process, gave
float32 scores in one of two tries). So :func:`apply` comes before the model loads
(``loading.load_for``), and a process holds one precision: a job asking for
the other one in the same process is refused rather than run in the wrong
one. Workers and the command line are one job per process.
"""
from __future__ import annotations

from typing import FrozenSet, Optional

from transforms.core import flags
from transforms.model.tensorflow import lean_import as tf_import

FLOAT32 = "float32"
BFLOAT16 = "bfloat16"
# int8 and auto run on the OpenVINO engine only (``openvino.quantization``,
# ``precision_choice``): TensorFlow then computes float32, as the reference.
INT8 = "int8"
AUTO = "auto"
PRECISIONS = (FLOAT32, BFLOAT16, INT8, AUTO)
OPENVINO_ONLY = (INT8, AUTO)

# Any one of these CPU flags means bfloat16 arithmetic in hardware.
NATIVE_BFLOAT16_FLAGS = ("avx512_bf16", "amx_bf16")

_REWRITE = "auto_mixed_precision_onednn_bfloat16"
_CPUINFO = "/proc/cpuinfo"

_process_precision: Optional[str] = None


def cpu_flags(cpuinfo: str) -> FrozenSet[str]:
  """The flags of the first processor in a ``/proc/cpuinfo`` text."""
  for line in cpuinfo.splitlines():
    name, _, value = line.partition(":")
    if name.strip() in ("flags", "Features"):
      return frozenset(value.split())
  return frozenset()


def check_supported(precision: str, cpuinfo: str) -> None:
  """Raises flags.ConfigError when this CPU cannot run ``precision`` well."""
  if precision != BFLOAT16:
    return
  found = cpu_flags(cpuinfo)
  if found.intersection(NATIVE_BFLOAT16_FLAGS):
    return
  vector = sorted(f for f in found if f.startswith(("avx", "amx"))) or [
      "no AVX or AMX flags" if cpuinfo else f"no {_CPUINFO} to read"]
  raise flags.ConfigError(
      f"--precision {BFLOAT16}: expected a CPU with native bfloat16 "
      f"({' or '.join(NATIVE_BFLOAT16_FLAGS)} among its flags), found "
      f"{', '.join(vector)}; without them TensorFlow emulates bfloat16 "
      f"slower than float32 or fails. Use --precision {FLOAT32} here, or "
      "workers whose CPUs have them")


def read_cpuinfo() -> str:
  """This machine's ``/proc/cpuinfo`` ('' where there is none)."""
  try:
    with open(_CPUINFO, encoding="utf-8", errors="replace") as f:
      return f.read()
  except OSError:
    return ""


def apply(precision: str) -> None:
  """Checks this CPU and process, then sets TensorFlow's bfloat16 rewrite.

  Raises:
    flags.ConfigError: bfloat16 on a CPU without native bfloat16, or a
      precision other than the one this process already runs models in.
  """
  global _process_precision
  check_supported(precision, read_cpuinfo())
  if _process_precision not in (None, precision):
    raise flags.ConfigError(
        f"--precision {precision}: expected {_process_precision}, the "
        "precision this process already runs models in (TensorFlow keeps "
        "each model function's first compiled form); run this job in a new "
        "process")
  if _process_precision is None:
    tf = tf_import.import_tensorflow()
    tf.config.optimizer.set_experimental_options(
        {_REWRITE: precision == BFLOAT16})
    _process_precision = precision
