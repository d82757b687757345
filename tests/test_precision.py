"""--precision bfloat16: faithful to float32 where the CPU has bfloat16,
refused with the CPU's flags where it has not."""
from __future__ import annotations

import glob
import os
import subprocess
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests import conftest
from tests.conftest import needs_shared
from transforms.core import flags
from transforms.model import precision
from transforms.write import columns

_SAPPHIRE_RAPIDS = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Platinum "
                    "8481C\nflags\t\t: fpu sse2 avx avx2 avx512f avx512_vnni "
                    "avx512_bf16 amx_bf16 amx_tile\n\nprocessor\t: 1\n")
_ZEN4 = "flags\t\t: fpu sse2 avx avx2 avx512f avx512_bf16\n"
_AMX_ONLY = "flags\t\t: fpu avx avx2 amx_tile amx_bf16\n"
_SKYLAKE = "flags\t\t: fpu sse2 avx avx2 fma avx512f avx512cd avx512bw\n"
_HASWELL = "flags\t\t: fpu sse2 avx avx2 fma\n"

_NATIVE = bool(precision.cpu_flags(precision.read_cpuinfo()).intersection(
    precision.NATIVE_BFLOAT16_FLAGS))
needs_native_bfloat16 = pytest.mark.skipif(
    not _NATIVE, reason="this CPU has no native bfloat16 "
    "(avx512_bf16 / amx_bf16)")


@pytest.mark.parametrize("cpuinfo", [_SAPPHIRE_RAPIDS, _ZEN4, _AMX_ONLY])
def test_cpus_with_native_bfloat16_are_accepted(cpuinfo):
  precision.check_supported(precision.BFLOAT16, cpuinfo)


@pytest.mark.parametrize("cpuinfo,found", [
    (_SKYLAKE, "found avx, avx2, avx512bw, avx512cd, avx512f;"),
    (_HASWELL, "found avx, avx2;"),
    ("flags\t: fpu sse2\n", "found no AVX or AMX flags;"),
    ("", "found no /proc/cpuinfo to read;"),
])
def test_cpus_without_it_are_refused_naming_expected_and_found(cpuinfo, found):
  with pytest.raises(flags.ConfigError) as e:
    precision.check_supported(precision.BFLOAT16, cpuinfo)
  assert "expected a CPU with native bfloat16 (avx512_bf16 or amx_bf16" in (
      str(e.value))
  assert found in str(e.value)
  # float32 runs anywhere.
  precision.check_supported(precision.FLOAT32, cpuinfo)


def test_flags_come_from_the_first_processor_only():
  assert precision.cpu_flags(_SAPPHIRE_RAPIDS) >= {"avx512_bf16", "amx_bf16"}
  assert precision.cpu_flags("processor: 0\n") == frozenset()


def test_an_unknown_precision_fails_before_any_work(tmp_path):
  with pytest.raises(flags.ConfigError, match=(
      r"--precision: expected one of float32, bfloat16, int8, auto, found 'float16'")):
    conftest.run_embed(["--model", "unused", "--precision", "float16",
                        "--input", str(tmp_path / "*"),
                        "--output", str(tmp_path / "out")])


def _run(task, model, out, *extra, own_process=False):
  argv = ["--model", model, "--task", task, "--top_k", "1",
          "--input", os.path.join(conftest.IMAGENET_DIR, "*"),
          "--output", out, *extra] + (
              ["--labels_file", conftest.IMAGENET_LABELS]
              if task == "classification" else [])
  if own_process:  # a process holds one precision; this suite's is float32
    done = subprocess.run([sys.executable, "-m", "pipelines.embed", *argv],
                          cwd=conftest.ROOT, capture_output=True, text=True,
                          timeout=300, check=False,
                          env=dict(os.environ, PYTHONPATH=conftest.ROOT))
    assert done.returncode == 0, done.stderr
  else:
    conftest.run_embed(argv)
  rows = {os.path.basename(r["key"]): r
          for r in conftest.read_parquet_rows(out)}
  path = glob.glob(os.path.join(out, "results-*.parquet"))[0]
  meta = pq.read_schema(path).metadata[b"hub_image_beam.precision"].decode()
  return rows, meta


def _float32_and_bfloat16(task, model, tmp_path, engine="tensorflow"):
  """The job in this (float32) process, then in bfloat16 in its own."""
  return (_run(task, model, str(tmp_path / "f32"), "--engine", "tensorflow"),
          _run(task, model, str(tmp_path / "bf16"), "--precision",
               "bfloat16", "--engine", engine, own_process=True))


@needs_shared
@needs_native_bfloat16
@pytest.mark.parametrize("engine", ["tensorflow", "openvino"])
def test_bfloat16_keeps_every_top1_of_float32(tmp_path, engine):
  # TensorFlow's oneDNN rewrite, and OpenVINO's bf16 inference precision,
  # each against TensorFlow's float32.
  (exact, exact_meta), (fast, fast_meta) = _float32_and_bfloat16(
      "classification", conftest.MOBILENET_CLS, tmp_path, engine)
  assert (exact_meta, fast_meta) == ("float32", "bfloat16")
  assert set(fast) == set(exact) == set(conftest.expected_top5())
  assert {k: r["top_k_labels"] for k, r in fast.items()} == {
      k: r["top_k_labels"] for k, r in exact.items()}
  assert fast["cat.bmp"]["top_k_labels"] == ["Egyptian cat"]
  # The scores did go through bfloat16 (else this test proves nothing).
  assert all(fast[k]["top_k_scores"] != exact[k]["top_k_scores"]
             for k in exact)


@needs_shared
@needs_native_bfloat16
def test_bfloat16_embeddings_stay_within_cosine_0_99(tmp_path):
  (exact, _), (fast, _) = _float32_and_bfloat16(
      "feature_vector", conftest.MOBILENET_FV, tmp_path)
  assert set(fast) == set(exact) and len(exact) == 12
  for key in exact:
    a = np.asarray(exact[key][columns.EMBEDDING], np.float64)
    b = np.asarray(fast[key][columns.EMBEDDING], np.float64)
    cosine = a @ b / np.linalg.norm(a) / np.linalg.norm(b)
    assert 0.99 <= cosine < 1.0, (key, cosine)


@needs_shared
@needs_native_bfloat16
def test_a_second_precision_in_one_process_is_refused(tmp_path):
  # This process has run float32 jobs (the test above, or this one's own).
  # TensorFlow holds one precision per process (OpenVINO does not: with
  # it, TensorFlow stays float32 as the reference).
  _run("classification", conftest.MOBILENET_V1_SMALL, str(tmp_path / "f32"),
       "--engine", "tensorflow")
  with pytest.raises(flags.ConfigError, match=(
      r"--precision bfloat16: expected float32, the precision this process "
      r"already runs models in .*run this job in a new process")):
    _run("classification", conftest.MOBILENET_V1_SMALL,
         str(tmp_path / "bf16"), "--precision", "bfloat16", "--engine",
         "tensorflow")
  assert not (tmp_path / "bf16").exists()  # refused before any work
