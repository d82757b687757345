"""int8 on the OpenVINO engine (issue 26): quantized with real NNCF on the
job's own images, gated on the next ones, cached, recorded, and refused
when it does not hold."""
from __future__ import annotations

import dataclasses
import glob
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest

from benchmarks import corpus as corpus_lib
from pipelines import embed
from tests import conftest
from tests import model_builders
from transforms.decode import batch
from transforms.decode import settings as decode_settings
from transforms.job import image_sample
from transforms.model import gate
from transforms.model.openvino import cache as ov_cache
from transforms.model.openvino import engine as ov_engine
from transforms.model import precision
from transforms.model import process_policy
from transforms.model import settings as model_settings
from transforms.model.openvino.quantization import calibration
from transforms.model.openvino.quantization import config as quant_config
from transforms.model.openvino.quantization import quantizer
from transforms.read import files
from transforms.read import listing

pytestmark = conftest.needs_shared


@pytest.fixture(scope="session")
def photos_240(tmp_path_factory):
  """240 crops of the shared photos: 144 calibrate, 96 check."""
  folder = str(tmp_path_factory.mktemp("photos_240"))
  corpus_lib.make_corpus(conftest.IMAGENET_DIR, folder, 240, seed=1)
  return folder


@pytest.fixture(scope="session")
def photos_150(tmp_path_factory):
  """Another job's 150 photos (other crops): 90 calibrate, 60 check."""
  folder = str(tmp_path_factory.mktemp("photos_150"))
  corpus_lib.make_corpus(conftest.IMAGENET_DIR, folder, 150, seed=2)
  return folder


@pytest.fixture(scope="session")
def int8_cache(tmp_path_factory):
  return str(tmp_path_factory.mktemp("int8_cache"))


def _metadata(out):
  path = sorted(glob.glob(os.path.join(out, "results-*.parquet")))[0]
  meta = pq.read_schema(path).metadata
  return {k.decode()[len("hub_image_beam."):]: v.decode()
          for k, v in meta.items()}


def _main(argv, capsys):
  status = embed.main(list(argv))
  captured = capsys.readouterr()
  return status, captured.out, captured.err


@pytest.fixture(scope="session")
def cls_int8_run(photos_240, int8_cache, tmp_path_factory):
  out = str(tmp_path_factory.mktemp("cls_int8") / "out")
  before = quantizer.quantizations
  conftest.run_embed([
      "--model", conftest.MOBILENET_CLS, "--task", "classification",
      "--input", os.path.join(photos_240, "*"), "--output", out,
      "--precision", "int8", "--openvino_cache", int8_cache])
  return out, quantizer.quantizations - before


def _decoded(paths, size):
  items = [files.listed_input(listing.ListedFile(p)) for p in paths]
  settings = decode_settings.DecodeSettings()
  return np.stack([batch.load_pixels(i, size, settings) for i in items])


def test_int8_classification_passes_and_its_figures_recompute(
    cls_int8_run, photos_240, int8_cache):
  out, quantized = cls_int8_run
  assert quantized == 1
  meta = _metadata(out)
  assert (meta["precision"], meta["engine"]) == ("int8", "openvino")
  figures = json.loads(meta["gate"])
  assert figures["passed"] and figures["images"] == 96
  assert figures["top1"] >= 0.95 and figures["top5"] >= 0.99
  # Each figure is recorded with its 95 % interval, which holds it.
  for name in ("top1", "top5", "mean_cosine", "p1_cosine"):
    lo, hi = figures["interval_95"][name]
    assert lo <= figures[name] <= hi and hi - lo < 0.2
  # The calibration set is the job's 144 inputs of lowest key hash (the
  # spread sample), decoded as the job decodes them; the gate's the next 96.
  paths = sorted(glob.glob(os.path.join(photos_240, "*")),
                 key=lambda p: image_sample.sample_rank(
                     files.listed_input(listing.ListedFile(p)).image_key))
  cal, check = _decoded(paths[:144], (224, 224)), _decoded(paths[144:],
                                                            (224, 224))
  assert meta["calibration_digest"] == calibration.pixels_digest(cal)
  # The recorded figures are what float32 and the cached int8 model give
  # on the check images.
  settings = model_settings.ModelSettings(
      handle=conftest.MOBILENET_CLS, task="classification",
      openvino_cache=int8_cache)
  tf_model = process_policy.load_tensorflow(settings, (224, 224), "float32")
  f32 = ov_engine.compile_model(
      ov_cache.load_or_convert(tf_model, int8_cache), tf_model.info)
  int8 = ov_engine.compile_model(
      quantizer.load_quantized(int8_cache, meta["quantized_model"]),
      tf_model.info)
  result = gate.evaluate(f32.run_uint8(check), int8.run_uint8(check),
                         "classification", "int8", gate.GateThresholds())
  assert result.figures() == figures
  # And the results are int8's: the written top-1 of each check image is
  # the int8 model's.
  rows = {r["key"]: r for r in conftest.read_parquet_rows(out)}
  assert len(rows) == 240
  written = [rows[p]["top_k_indices"][0] for p in paths[144:]]
  assert written == list(np.argmax(int8.run_uint8(check)["default"], 1))


def test_second_job_reuses_the_quantized_model_but_gates_its_own_images(
    cls_int8_run, photos_150, int8_cache, tmp_path):
  first_out, _ = cls_int8_run
  before = quantizer.quantizations
  out = str(tmp_path / "out")
  conftest.run_embed([
      "--model", conftest.MOBILENET_CLS, "--task", "classification",
      "--input", os.path.join(photos_150, "*"), "--output", out,
      "--precision", "int8", "--openvino_cache", int8_cache,
      # The verdict is not what this test is about, and on 60 images it
      # sits at the threshold: top-1 agreement 0.933 in one CI run (4 of
      # 60 differ), >= 0.95 in others, 0.95 needed.
      "--int8_min_top1", "0.9"])
  assert quantizer.quantizations == before  # a cache hit: no NNCF
  meta, first = _metadata(out), _metadata(first_out)
  assert meta["quantized_model"] == first["quantized_model"]
  # Calibrated by the first job's images, gated on this job's 60.
  assert meta["calibration_digest"] == first["calibration_digest"]
  assert json.loads(meta["gate"])["images"] == 60


def test_requantize_and_a_changed_setting_quantize_again(
    simple_model, photos_150, int8_cache, tmp_path):
  base = ["--model", simple_model, "--input",
          os.path.join(photos_150, "*"), "--precision", "int8",
          "--openvino_cache", int8_cache]
  counts = []
  for i, extra in enumerate([[], [], ["--requantize"],
                             ["--int8_preset", "mixed"]]):
    before = quantizer.quantizations
    conftest.run_embed(base + ["--output", str(tmp_path / f"o{i}")] + extra)
    counts.append(quantizer.quantizations - before)
  assert counts == [1, 0, 1, 1]
  meta = _metadata(str(tmp_path / "o0"))
  assert json.loads(meta["gate"])["mean_cosine"] >= 0.99


def test_a_model_int8_cannot_keep_is_refused_and_auto_runs_it(
    models_dir, photos_150, int8_cache, tmp_path, capsys):
  model = model_builders.save_outlier_classifier(
      os.path.join(models_dir, "outlier"))
  out = str(tmp_path / "out")
  base = ["--model", model, "--task", "classification", "--input",
          os.path.join(photos_150, "*"), "--output", out,
          "--openvino_cache", int8_cache]
  conftest.run_embed(base)  # float32 results to keep
  kept = sorted(os.listdir(out))
  status, _, err = _main(base + ["--precision", "int8", "--overwrite"],
                         capsys)
  assert status == 2
  assert "int8 refused" in err and "top-1 agreement" in err
  assert "--int8_min_top1" in err
  assert sorted(os.listdir(out)) == kept  # nothing written or deleted
  assert _metadata(out)["precision"] == "float32"
  status, printed, err = _main(base + ["--precision", "auto", "--overwrite"],
                               capsys)
  assert status == 0, err
  meta = _metadata(out)
  assert meta["precision"] in ("float32", "bfloat16")
  assert "int8 failed the gate" in meta["precision_reason"]
  assert "int8 failed the gate" in printed


def test_small_jobs_split_and_tiny_jobs_are_refused(simple_model, tmp_path,
                                                    capsys):
  q = quant_config.QuantizationSettings()
  assert quant_config.split_sizes(1000, q) == (300, 500)
  assert quant_config.split_sizes(800, q) == (300, 500)
  assert quant_config.split_sizes(500, q) == (300, 200)
  assert quant_config.split_sizes(150, q) == (90, 60)
  assert quant_config.split_sizes(100, q) == (60, 40)
  with pytest.raises(ValueError, match="at least 100"):
    quant_config.split_sizes(99, q)
  folder = tmp_path / "few"
  corpus_lib.make_corpus(conftest.IMAGENET_DIR, str(folder), 60, seed=3)
  out = str(tmp_path / "out")
  status, _, err = _main(["--model", simple_model, "--input",
                          str(folder / "*"), "--output", out, "--precision",
                          "int8", "--openvino_cache", str(tmp_path / "c")],
                         capsys)
  assert status == 2
  assert "at least 100" in err and "found 60" in err
  assert not os.path.exists(out)


def test_tensorflow_engine_refuses_int8(simple_model, tmp_path, capsys):
  status, _, err = _main(["--model", simple_model, "--input",
                          str(tmp_path / "*"), "--output",
                          str(tmp_path / "o"), "--engine", "tensorflow",
                          "--precision", "int8"], capsys)
  assert status == 2
  assert "OpenVINO engine only" in err and "--engine tensorflow" in err


def test_skip_existing_refuses_another_precision(simple_model, photos_150,
                                                 int8_cache, tmp_path,
                                                 capsys):
  first = str(tmp_path / "first")
  inputs = os.path.join(photos_150, "*")
  conftest.run_embed(["--model", simple_model, "--input", inputs,
                      "--output", first, "--precision", "int8",
                      "--openvino_cache", int8_cache])
  argv = ["--model", simple_model, "--input", inputs, "--output",
          str(tmp_path / "second"), "--skip_existing",
          os.path.join(first, "results-*"), "--openvino_cache", int8_cache]
  status, _, err = _main(argv, capsys)
  assert status == 2
  assert "holds int8 results" in err and "float32" in err
  assert not os.path.exists(str(tmp_path / "second"))
  status, _, err = _main(argv + ["--allow_mixed_results"], capsys)
  assert status == 0, err


def test_int8_feature_vector_passes(photos_150, int8_cache, tmp_path):
  out = str(tmp_path / "out")
  conftest.run_embed([
      "--model", conftest.MOBILENET_FV, "--input",
      os.path.join(photos_150, "*"), "--output", out, "--precision", "int8",
      "--openvino_cache", int8_cache])
  figures = json.loads(_metadata(out)["gate"])
  assert figures["passed"]
  assert figures["mean_cosine"] >= 0.99 and figures["p1_cosine"] >= 0.95


def test_remote_int8_needs_a_cache_the_workers_can_read(simple_model,
                                                        tmp_path):
  from apache_beam.options.pipeline_options import PipelineOptions
  from transforms.core import flags
  from transforms.job import options as options_lib
  from transforms.job import plan
  config = options_lib.build_config(PipelineOptions([
      "--model", simple_model, "--input", str(tmp_path / "*"), "--output",
      str(tmp_path / "o"), "--precision", "int8", "--openvino_cache",
      str(tmp_path / "cache")]))
  with pytest.raises(flags.ConfigError, match="gs://"):
    plan.plan_job(config, workers_here=False)
  assert precision.INT8 in precision.OPENVINO_ONLY


@pytest.mark.parametrize("requested,flags_,remote,expected", [
    ("auto", {"avx2", "avx512_vnni"}, False, "first_layer_only"),
    ("auto", {"avx2", "amx_int8"}, False, "first_layer_only"),
    ("auto", {"avx2", "fma"}, False, "enable"),          # AVX2 only
    ("auto", {"avx2", "avx512_vnni"}, True, "enable"),   # workers unseen
    ("disable", {"avx2"}, False, "disable"),             # as asked
])
def test_overflow_fix_follows_the_cpu_and_where_the_job_runs(
    requested, flags_, remote, expected):
  from transforms.model.openvino.quantization import config as quant_config
  assert quant_config.overflow_fix_for(requested, frozenset(flags_),
                                       remote) == expected


def test_the_overflow_fix_is_in_the_flags_and_the_cache_key(simple_model,
                                                            tmp_path):
  from apache_beam.options.pipeline_options import PipelineOptions
  from transforms.job import options as options_lib
  from transforms.model.openvino.quantization import quantizer

  def quantization(*extra):
    return options_lib.build_config(PipelineOptions([
        "--model", simple_model, "--input", str(tmp_path / "*"), "--output",
        str(tmp_path / "o"), "--precision", "int8", *extra])).model.quantization

  everywhere = quantization("--int8_overflow_fix", "enable")
  assert everywhere.overflow_fix == "enable"
  assert not everywhere.fast_bias_correction   # auto: full with the fix
  first = quantization("--int8_overflow_fix", "first_layer_only")
  assert first.fast_bias_correction
  assert quantizer.cache_key("k", everywhere) != quantizer.cache_key(
      "k", dataclasses.replace(everywhere, overflow_fix="first_layer_only"))
  with pytest.raises(Exception, match="int8_overflow_fix"):
    quantization("--int8_overflow_fix", "sometimes")
