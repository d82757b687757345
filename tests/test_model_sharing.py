"""One model per machine when asked (``--model_copies``), and the GPU
memory policy, on the local runner's worker processes."""
from __future__ import annotations

import os

import pytest

from tests import conftest
from tests import image_corpus
from tests import model_builders
from transforms.model import devices
from transforms.model import precision
from transforms.model import process_policy
from transforms.model.tensorflow import savedmodel as tf_savedmodel
from transforms.model import settings as model_settings


@pytest.fixture
def images(tmp_path):
  folder = tmp_path / "images"
  folder.mkdir()
  for i in range(16):
    (folder / f"img{i:02d}.png").write_bytes(image_corpus.encode(
        image_corpus.solid("RGB", (10 * i, 80, 160)), "PNG"))
  return folder


def _loads(markers):
  return len(os.listdir(markers))


@pytest.mark.parametrize("copies, worker_loads", [("0", 2), ("1", 1)])
def test_model_copies_loads_one_model_for_two_worker_processes(
    tmp_path, images, copies, worker_loads):
  markers = tmp_path / "markers"
  markers.mkdir()
  model = model_builders.save_load_counting(str(tmp_path / "model"),
                                            str(markers))
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", model, "--input", str(images / "*"),
                      "--output", out, "--batch_size", "4",
                      "--direct_running_mode", "multi_processing",
                      "--direct_num_workers", "2",
                      "--model_copies", copies])
  rows = conftest.read_parquet_rows(out)
  assert sorted(os.path.basename(r["key"]) for r in rows) == sorted(
      os.listdir(images))
  # The launcher loads once to check the model; then each of the two worker
  # processes loads its own, or one shared copy serves both.
  assert _loads(markers) == 1 + worker_loads


def test_gpu_memory_policy_is_set_before_the_model_loads(simple_model,
                                                         monkeypatch):
  # TensorFlow reads TF_FORCE_GPU_ALLOW_GROWTH when it creates its GPU
  # devices, which loading a model does: the policy must come first.
  order = []
  for module, name in ((devices, "configure_gpu_memory"),
                       (precision, "apply"),
                       (tf_savedmodel, "load_saved_model")):
    original = getattr(module, name)

    def recorded(*args, _original=original, _name=name, **kwargs):
      order.append((_name, os.environ.get("TF_FORCE_GPU_ALLOW_GROWTH")))
      return _original(*args, **kwargs)

    monkeypatch.setattr(module, name, recorded)
  monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
  model = process_policy.load_for(
      model_settings.ModelSettings(handle=simple_model), None)
  assert model.info.output_width == model_builders.NUM_OUTPUTS
  assert order == [("configure_gpu_memory", None), ("apply", "true"),
                   ("load_saved_model", "true")]
  # A per-process cap is the other policy: it must not also force growth.
  monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH")
  devices.configure_gpu_memory(4096)
  assert "TF_FORCE_GPU_ALLOW_GROWTH" not in os.environ
