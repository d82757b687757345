"""Right fitting (--inference_accelerator): the hint's checks, what crosses
from decode to inference, and the local runner running the same job."""
from __future__ import annotations

import typing

import numpy as np
import pytest
from apache_beam import coders

from tests import conftest
from tests import image_corpus
from transforms.core import elements
from transforms.core import flags
from transforms.decode import dofn as decode_dofn
from transforms.decode import settings as decode_settings
from transforms.job import placement


@pytest.mark.parametrize("value", [
    "type:nvidia-l4;count:1;install-nvidia-driver",
    "type:nvidia-tesla-t4;count:2",
    "type:nvidia-l4;count:1;install-nvidia-driver:5xx;use_nvidia_mps",
    " type:nvidia-h100-80gb;count:8;machine_type:a3-highgpu-8g ",
])
def test_good_accelerator_hints(value):
  assert placement.parse_accelerator(value) == value.strip()


@pytest.mark.parametrize("value, found", [
    ("nvidia-l4", "type and count first"),
    ("count:1;type:nvidia-l4", "type and count first"),
    ("type:NVIDIA L4;count:1", "a GPU type"),
    ("type:nvidia-l4;count:one", "a whole count"),
    ("type:nvidia-l4;count:0", "at least one accelerator"),
    ("type:nvidia-l4;count:1;install-drivers", "known options only"),
])
def test_malformed_accelerator_hints_name_what_was_expected(value, found):
  with pytest.raises(flags.ConfigError) as raised:
    placement.parse_accelerator(value)
  message = str(raised.value)
  assert "expected 'type:TYPE;count:N" in message and found in message
  assert repr(value) in message


def test_contradictions_are_refused():
  with pytest.raises(flags.ConfigError, match="refuses the two together"):
    placement.from_flags("type:nvidia-l4;count:1", None,
                         ["worker_accelerator=type:nvidia-l4;count:1"])
  with pytest.raises(flags.ConfigError, match="expected "
                     "--inference_accelerator too"):
    placement.from_flags(None, 16, [])
  with pytest.raises(flags.ConfigError, match="positive number of GB"):
    placement.from_flags("type:nvidia-l4;count:1", 0, [])
  hinted = placement.from_flags("type:nvidia-l4;count:1", 16,
                                ["enable_prime"])
  assert hinted.separate and hinted.resource_hints() == {
      "accelerator": "type:nvidia-l4;count:1", "min_ram": "16GB"}
  assert placement.from_flags(None, None, []).resource_hints() == {}


def test_what_crosses_the_shuffle_is_uint8_pixels_once():
  # The element between decode and inference is what the decode step
  # emits: a batch. Made by the decode step itself from 32 photo-like
  # JPEGs, then encoded as Beam encodes it for the shuffle: per image, the
  # pixels at model size plus a small envelope (key, framing).
  count = 32
  inputs = [elements.ImageInput(
      elements.ImageKey(f"gs://bucket/photos/2026/11/30/IMG_{i:04d}.jpg"),
      data=image_corpus.noise_jpeg((640, 480), seed=i)) for i in range(count)]
  step = decode_dofn.DecodeBatchDoFn(decode_settings.DecodeSettings(threads=0),
                                     (224, 224))
  step.setup()
  (batch,) = list(step.process(inputs))
  assert isinstance(batch, elements.DecodedBatch)
  assert batch.pixels.dtype == np.uint8
  assert batch.pixels.shape == (count, 224, 224, 3)
  encoded = coders.registry.get_coder(typing.Any).encode(batch)
  per_image = len(encoded) / count
  assert 224 * 224 * 3 == 150528
  assert 150528 < per_image < 150528 + 1024, per_image


def test_the_local_runner_ignores_the_hint_and_runs_the_job(simple_model,
                                                            tmp_path):
  folder = tmp_path / "images"
  folder.mkdir()
  for i, color in enumerate([(250, 0, 0), (0, 250, 0), (0, 0, 250)]):
    (folder / f"{i}.png").write_bytes(image_corpus.encode(
        image_corpus.solid("RGB", color), "PNG"))
  (folder / "bad.jpg").write_bytes(b"not an image")
  plain, hinted = str(tmp_path / "plain"), str(tmp_path / "hinted")
  base = ["--model", simple_model, "--input", str(folder / "*"),
          "--engine", "tensorflow"]
  conftest.run_embed(base + ["--output", plain])
  conftest.run_embed(base + ["--output", hinted, "--inference_accelerator",
                             "type:nvidia-l4;count:1;install-nvidia-driver",
                             "--inference_min_ram_gb", "16"])
  rows = {r["key"]: r["embedding"] for r in conftest.read_parquet_rows(hinted)}
  assert len(rows) == 3
  conftest.assert_same_vectors(
      rows, {r["key"]: r["embedding"]
             for r in conftest.read_parquet_rows(plain)})
  assert [f["reason"] for f in conftest.read_failures(hinted)] == [
      "not_an_image"]
