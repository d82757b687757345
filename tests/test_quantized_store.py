"""Workers run what was gated (issue 35): quantized models are stored by
the digest of their own bytes, both files or neither, never replaced, and
a load checks the bytes against the name."""
from __future__ import annotations

import os

import numpy as np
import pytest

from transforms.model.openvino import cache as ov_cache
from transforms.model.openvino.quantization import quantizer


def _model(scale):
  import openvino as ov  # pylint: disable=g-import-not-at-top
  import openvino.opset13 as ops  # pylint: disable=g-import-not-at-top
  images = ops.parameter([1, 4], np.float32, name="images")
  out = ops.multiply(images, ops.constant(np.full([1, 4], scale, np.float32)))
  return ov.Model([out], [images], "tiny")


def test_stored_by_content_loaded_only_when_the_bytes_match(tmp_path):
  cache = str(tmp_path / "cache")
  model = _model(2.0)
  name = ov_cache.store_by_content(model, cache, "int8-abc")
  assert name.startswith("int8-abc-")
  loaded = quantizer.load_quantized(cache, name)
  assert loaded.get_friendly_name() == "tiny"
  # The same model again: the same name, the files not rewritten.
  bin_path = os.path.join(cache, f"{name}.bin")
  before = os.stat(bin_path).st_mtime_ns
  assert ov_cache.store_by_content(model, cache, "int8-abc") == name
  assert os.stat(bin_path).st_mtime_ns == before
  # Another quantization (a --requantize) gets a name of its own: the
  # model a running job loads is never replaced.
  other = ov_cache.store_by_content(_model(3.0), cache, "int8-abc")
  assert other != name and os.path.exists(bin_path)
  # Bytes that are not the gated model's: the worker refuses at set-up.
  data = bytearray(open(bin_path, "rb").read())
  data[0] ^= 0xFF
  open(bin_path, "wb").write(bytes(data))
  with pytest.raises(ov_cache.DigestMismatch, match="not the model that was"):
    quantizer.load_quantized(cache, name)
  # Half a pair (the .xml missing) is no model at all.
  os.remove(os.path.join(cache, f"{other}.xml"))
  with pytest.raises(FileNotFoundError, match="is not in the OpenVINO cache"):
    quantizer.load_quantized(cache, other)
