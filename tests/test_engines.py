"""The OpenVINO engine beside TensorFlow: faithfulness checked per model,
the fall-back and the refusal, the converted-model cache, and the batch
split across inference requests."""
from __future__ import annotations

import logging
import os
import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipelines import embed
from tests import conftest
from tests import model_builders
from transforms.core import flags
from transforms.model import contract
from transforms.model import faithfulness
from transforms.model.openvino import cache as ov_cache
from transforms.model.openvino import engine as ov_engine
from transforms.model import precision
from transforms.model import process_policy
from transforms.model import settings as model_settings


def _rows(n=4, width=10, seed=0):
  return np.random.default_rng(seed).normal(size=(n, width)).astype(
      np.float32)


@pytest.mark.parametrize("change, passed", [
    (lambda x: x, True),
    (lambda x: x * (1 + 1e-6) + 1e-7, True),          # summation order
    (lambda x: x * 3.0, True),                        # scale: same direction
    # half the features dropped (dropout) or bfloat16-sized noise
    (lambda x: x * (np.arange(x.shape[1]) % 2), False),
    (lambda x: x + np.random.default_rng(1).normal(
        scale=0.03, size=x.shape).astype(np.float32), False),
])
def test_agreement_catches_what_a_wrong_engine_does(change, passed):
  reference = {"default": _rows()}
  candidate = {"default": change(reference["default"])}
  agreement = faithfulness.compare(reference, candidate, "feature_vector")
  assert agreement.passed is passed, agreement


def test_agreement_needs_the_same_top1_for_classification():
  logits = np.array([[1.0, 0.999, -3.0], [0.0, 5.0, 1.0]], np.float32)
  swapped = logits.copy()
  swapped[0] = [0.999, 1.0, -3.0]  # a near tie flipped: cosine ~1
  agreement = faithfulness.compare({"default": logits}, {"default": swapped},
                                   "classification")
  assert agreement.min_cosine > faithfulness.MIN_COSINE
  assert agreement.top1_same == 1 and not agreement.passed
  # The same arrays as feature vectors do not compare top-1.
  agreement = faithfulness.compare({"default": logits},
                                   {"default": swapped}, "feature_vector")
  assert agreement.top1_same == 2 and agreement.passed
  shape = faithfulness.compare({"default": logits},
                               {"default": logits[:, :2]}, "classification")
  assert not shape.passed and shape.max_abs_diff == float("inf")


def test_agreement_on_extra_outputs_too():
  reference = {"default": _rows(), "hidden": _rows(seed=2)}
  candidate = {"default": reference["default"],
               "hidden": -reference["hidden"]}
  assert not faithfulness.compare(reference, candidate,
                                  "feature_vector").passed


def _settings(handle, **kwargs):
  return model_settings.ModelSettings(handle=handle, **kwargs)


def test_a_batch_split_across_requests_keeps_its_order(simple_model):
  # One conversion, every batch size (each split differently, or not).
  settings = _settings(simple_model, openvino_cache=None)
  tf_model = process_policy.load_tensorflow(settings, None,
                                            precision.FLOAT32)
  ov_model = process_policy.openvino_from(tf_model, settings)
  assert ov_model.requests >= 2  # both cores busy on every batch
  for batch in (1, 3, 5, 33):
    images = contract.probe_images((32, 32), batch, seed=batch,
                                   dtype="uint8")
    expected = model_builders.reference_features(images / np.float32(255))
    got = ov_model.run_uint8(images)["default"]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5,
                               err_msg=f"batch {batch}")


def test_converted_models_are_cached_by_content(simple_model, training_model,
                                                tmp_path, monkeypatch):
  converted = []
  real_convert = ov_engine.convert

  def counting_convert(tf_model):
    converted.append(tf_model.path)
    return real_convert(tf_model)

  monkeypatch.setattr(ov_engine, "convert", counting_convert)
  cache = str(tmp_path / "ir")
  settings = _settings(simple_model, openvino_cache=cache)
  images = contract.probe_images((32, 32), 4, seed=1, dtype="uint8")
  outputs = []
  for _ in range(2):
    model = process_policy.load_for(settings, None,
                                    model_settings.ENGINE_OPENVINO)
    outputs.append(model.run_uint8(images)["default"])
  assert len(converted) == 1  # the second load read the cache
  assert sorted(os.path.splitext(n)[1] for n in os.listdir(cache)) == [
      ".bin", ".xml"]
  np.testing.assert_array_equal(outputs[0], outputs[1])
  # The key is the content, not the path: a copy hits the same entry;
  # another model gets its own.
  copy = str(tmp_path / "copy")
  shutil.copytree(simple_model, copy)

  def key(path):
    return ov_cache.cache_key(process_policy.load_tensorflow(
        _settings(path), None, precision.FLOAT32))

  assert key(copy) == key(simple_model) != key(training_model)


def test_auto_falls_back_to_tensorflow_naming_the_op(models_dir, tmp_path,
                                                     caplog, capsys):
  model = model_builders.save_with_op_openvino_lacks(
      os.path.join(models_dir, "bessel"))
  folder = tmp_path / "images"
  folder.mkdir()
  (folder / "a.png").write_bytes(b"")  # one failure, for the count
  from tests import image_corpus  # pylint: disable=g-import-not-at-top
  (folder / "b.png").write_bytes(image_corpus.encode(
      image_corpus.solid("RGB", (10, 200, 30)), "PNG"))
  out = tmp_path / "out"
  argv = ["--model", model, "--input", str(folder / "*"), "--output",
          str(out)]
  # --engine openvino refuses, before any work, naming the op.
  assert embed.main(argv + ["--engine", "openvino"]) == 2
  err = capsys.readouterr().err
  assert "--engine openvino: conversion failed" in err
  assert "BesselI1e" in err
  assert not out.exists()
  # auto runs the job on TensorFlow and says why.
  with caplog.at_level(logging.WARNING, logger="hub_image_beam"):
    assert embed.main(argv) == 0
  assert "did not use OpenVINO: conversion failed" in caplog.text
  assert "engine:            tensorflow" in capsys.readouterr().out
  (shard,) = out.glob("results-*.parquet")
  meta = pq.read_schema(str(shard)).metadata
  assert meta[b"hub_image_beam.engine"] == b"tensorflow"
  (row,) = conftest.read_parquet_rows(str(out))
  pixels = np.zeros((1, 32, 32, 3), np.float32)
  pixels[...] = np.array([10, 200, 30], np.float32) / 255
  from scipy import special  # pylint: disable=g-import-not-at-top
  np.testing.assert_allclose(
      row["embedding"],
      special.i1e(model_builders.reference_features(pixels))[0], rtol=1e-4,
      atol=1e-6)


def test_a_model_that_checks_its_inputs_stays_on_tensorflow(models_dir,
                                                           tmp_path, capsys):
  # OpenVINO's converter drops Assert ops: the white image this model
  # refuses would get a result. No probe of ordinary images sees that.
  model = model_builders.save_raising_on_white(
      os.path.join(models_dir, "raising_engine"))
  folder = tmp_path / "images"
  folder.mkdir()
  from tests import image_corpus  # pylint: disable=g-import-not-at-top
  (folder / "white.png").write_bytes(image_corpus.encode(
      image_corpus.solid("RGB", (255, 255, 255)), "PNG"))
  argv = ["--model", model, "--input", str(folder / "*")]
  assert embed.main(argv + ["--output", str(tmp_path / "ov"), "--engine",
                            "openvino"]) == 2
  assert "checks its inputs at run time (Assert ops)" in (
      capsys.readouterr().err)
  assert embed.main(argv + ["--output", str(tmp_path / "auto")]) == 0
  (failure,) = conftest.read_failures(str(tmp_path / "auto"))
  assert (failure["stage"], failure["reason"]) == ("inference",
                                                   "inference_error")
  assert "all-white image" in failure["message"]


def _has_native_bfloat16():
  return bool(precision.cpu_flags(precision.read_cpuinfo()).intersection(
      precision.NATIVE_BFLOAT16_FLAGS))


@conftest.needs_shared
@pytest.mark.skipif(not _has_native_bfloat16(),
                    reason="needs a CPU on which OpenVINO runs bf16")
def test_a_disagreeing_engine_is_not_used(monkeypatch, tmp_path, capsys):
  # OpenVINO made to compute in bf16 while TensorFlow computes f32: a real
  # disagreement (cosine ~0.998), which the probe must catch.
  monkeypatch.setitem(ov_engine._PRECISION_HINTS, precision.FLOAT32,  # pylint: disable=protected-access
                      "bf16")
  out = tmp_path / "out"
  status = embed.main(["--model", conftest.MOBILENET_CLS, "--input",
                       conftest.photo_paths()[0], "--output", str(out),
                       "--engine", "openvino", "--openvino_cache", "none"])
  assert status == 2
  err = capsys.readouterr().err
  assert "--engine openvino: disagrees with TensorFlow: 8 probe images: " \
         "min cosine 0.99" in err
  assert not out.exists()


def test_engine_flag_is_checked_before_any_work(simple_model, tmp_path):
  with pytest.raises(flags.ConfigError,
                     match="--engine: expected one of auto, tensorflow, "
                     "openvino, found 'onnx'"):
    conftest.run_embed(["--model", simple_model, "--input",
                        str(tmp_path / "*"), "--output", str(tmp_path / "o"),
                        "--engine", "onnx"])
