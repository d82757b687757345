"""The main job with tiny models built here: failures, sizes, bad models."""
from __future__ import annotations

import glob
import io
import os

import numpy as np
import pytest
from PIL import Image

from tests import conftest
from tests import model_builders
from transforms.core import flags as options_lib
from transforms.model import description


def _png(color, size=(40, 30)):
  buffer = io.BytesIO()
  Image.new("RGB", size, color).save(buffer, format="PNG")
  return buffer.getvalue()


@pytest.fixture
def small_corpus(tmp_path):
  """Three good images and a corrupt one."""
  folder = tmp_path / "images"
  folder.mkdir()
  colors = {"red.png": (255, 0, 0), "green.png": (0, 255, 0),
            "blue.png": (0, 0, 255)}
  for name, color in colors.items():
    (folder / name).write_bytes(_png(color))
  (folder / "broken.jpg").write_bytes(b"<html>404 Not Found</html>")
  return folder


def test_corrupt_file_goes_to_failures_others_succeed(simple_model,
                                                      small_corpus, tmp_path):
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", simple_model, "--input",
                      str(small_corpus / "*"), "--output", out])
  rows = {os.path.basename(r["key"]): r
          for r in conftest.read_parquet_rows(out)}
  failures = conftest.read_failures(out)
  assert sorted(rows) == ["blue.png", "green.png", "red.png"]
  assert [(os.path.basename(f["key"]), f["stage"], f["reason"])
          for f in failures] == [("broken.jpg", "decode", "not_an_image")]
  # The embedding is the model applied to the solid colour in [0, 1].
  red = np.zeros((1, 32, 32, 3), np.float32)
  red[..., 0] = 1.0
  np.testing.assert_allclose(rows["red.png"]["embedding"],
                             model_builders.reference_features(red)[0],
                             rtol=1e-5, atol=1e-5)


def test_model_with_training_argument_runs_in_inference_mode(
    training_model, small_corpus, tmp_path):
  outputs = []
  for run in range(2):
    out = str(tmp_path / f"out{run}")
    conftest.run_embed(["--model", training_model, "--input",
                        str(small_corpus / "*.png"), "--output", out])
    outputs.append({r["key"]: r["embedding"]
                    for r in conftest.read_parquet_rows(out)})
  # training=True would zero half the features at random (and double the
  # rest): far outside the tolerance for batching order.
  conftest.assert_same_vectors(outputs[0], outputs[1])
  green = np.zeros((1, 32, 32, 3), np.float32)
  green[..., 1] = 1.0
  key = str(small_corpus / "green.png")
  np.testing.assert_allclose(outputs[0][key],
                             model_builders.reference_features(green)[0],
                             rtol=1e-5, atol=1e-5)


def test_dynamic_size_model_requires_image_size(dynamic_model, small_corpus,
                                                tmp_path):
  out = tmp_path / "out"
  with pytest.raises(options_lib.ConfigError, match="--image_size"):
    conftest.run_embed(["--model", dynamic_model, "--input",
                        str(small_corpus / "*"), "--output", str(out)])
  assert not out.exists()  # Failed before any work.
  conftest.run_embed(["--model", dynamic_model, "--image_size", "20,24",
                      "--input", str(small_corpus / "*.png"),
                      "--output", str(out)])
  assert len(conftest.read_parquet_rows(str(out))) == 3


def test_wrong_output_rank_is_rejected_before_reading(models_dir,
                                                      small_corpus, tmp_path):
  model = model_builders.save_broken(os.path.join(models_dir, "rank3"),
                                     "rank3_output")
  out = tmp_path / "out"
  with pytest.raises(description.ModelError,
                     match=r"\[batch, N\].*rank 3"):
    conftest.run_embed(["--model", model, "--input",
                        str(small_corpus / "*"), "--output", str(out)])
  assert not out.exists()


@pytest.mark.parametrize("argv, message", [
    (["--model", "/no/such/model"], "does not exist"),
    (["--task", "segmentation"], "--task: expected one of feature_vector, "
     "classification, found 'segmentation'"),
    (["--input", "/no/such/dir/*.jpg"], "matches nothing"),
    (["--task", "classification", "--labels_file", "LABELS3"],
     "has 3 lines, but the model outputs 6 classes"),
    (["--output_format", "csv"], "--output_format: expected one of parquet"),
    (["--output_format", "tfrecord", "--compression", "snappy"],
     "not available for tfrecord"),
])
def test_bad_flags_fail_before_any_work(simple_model, small_corpus, tmp_path,
                                        argv, message):
  labels = model_builders.write_labels(str(tmp_path / "labels3.txt"), 3)
  argv = [labels if a == "LABELS3" else a for a in argv]
  base = {"--model": simple_model, "--input": str(small_corpus / "*"),
          "--output": str(tmp_path / "out")}
  for flag, value in zip(argv[::2], argv[1::2]):
    base[flag] = value
  full = [x for pair in base.items() for x in pair]
  with pytest.raises((options_lib.ConfigError, description.ModelError),
                     match=message):
    conftest.run_embed(full)
  assert not (tmp_path / "out").exists()


def test_yaml_config_with_flag_override(simple_model, small_corpus, tmp_path):
  config = tmp_path / "job.yaml"
  config.write_text(
      f"model: {simple_model}\n"
      f"input:\n  - {small_corpus}/red.png\n  - {small_corpus}/blue.png\n"
      f"output: {tmp_path / 'from_yaml'}\n"
      "output_format: tfrecord\n")
  out = tmp_path / "from_flag"
  conftest.run_embed(["--config", str(config), "--output", str(out),
                      "--output_format", "parquet"])
  assert not (tmp_path / "from_yaml").exists()
  keys = sorted(r["key"] for r in conftest.read_parquet_rows(str(out)))
  assert keys == [str(small_corpus / "blue.png"),
                  str(small_corpus / "red.png")]


def test_refuses_to_mix_with_an_earlier_run(simple_model, small_corpus,
                                            tmp_path):
  out = str(tmp_path / "out")
  argv = ["--model", simple_model, "--input", str(small_corpus / "*.png"),
          "--output", out]
  conftest.run_embed(argv)
  with pytest.raises(options_lib.ConfigError, match="--overwrite"):
    conftest.run_embed(argv)
  conftest.run_embed(argv + ["--overwrite", "--num_shards", "2"])
  assert len(glob.glob(os.path.join(out, "results-*"))) == 2
  assert len(conftest.read_parquet_rows(out)) == 3
