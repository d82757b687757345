"""The decode step's batch element: every input comes out once, as a pixel
row of its batch or as a failure of the right stage, in input order,
whether it reads inline or one batch ahead in threads."""
from __future__ import annotations

import numpy as np
import pytest
from apache_beam import pvalue
from apache_beam.utils import windowed_value

from tests import image_corpus
from transforms.core import elements
from transforms.core import failures
from transforms.decode import batch as batch_lib
from transforms.decode import dofn as decode_dofn
from transforms.decode import settings as decode_settings

SIZE = (24, 32)


def _inputs(tmp_path, count):
  """count inputs: files, bytes, a missing file and a file that is no
  image, in a fixed order; returns them and the keys expected to fail."""
  items, bad = [], {}
  for i in range(count):
    key = elements.ImageKey(f"k{i:03d}")
    jpeg = image_corpus.noise_jpeg((40 + i, 30), seed=i)
    if i % 7 == 3:
      items.append(elements.ImageInput(key, uri=str(tmp_path / "gone.jpg")))
      bad[key.key] = (failures.STAGE_READ, failures.REASON_NOT_FOUND)
    elif i % 7 == 5:
      path = tmp_path / f"{i}.jpg"
      path.write_bytes(b"not an image at all")
      items.append(elements.ImageInput(key, uri=str(path)))
      bad[key.key] = (failures.STAGE_DECODE, failures.REASON_NOT_AN_IMAGE)
    elif i % 2:
      path = tmp_path / f"{i}.jpg"
      path.write_bytes(jpeg)
      items.append(elements.ImageInput(key, uri=str(path)))
    else:
      items.append(elements.ImageInput(key, data=jpeg))
  return items, bad


def test_load_pixels_names_the_stage_and_the_file(tmp_path):
  missing = elements.ImageInput(elements.ImageKey("a"),
                                uri=str(tmp_path / "nope.png"))
  outcome = batch_lib.load_pixels(missing, SIZE,
                                  decode_settings.DecodeSettings())
  assert outcome == failures.Failure(
      "a", failures.STAGE_READ, failures.REASON_NOT_FOUND, outcome.message)
  assert "nope.png" in outcome.message
  good = batch_lib.load_pixels(
      elements.ImageInput(elements.ImageKey("b"),
                          data=image_corpus.noise_jpeg()),
      SIZE, decode_settings.DecodeSettings())
  assert good.dtype == np.uint8 and good.shape == (24, 32, 3)


@pytest.mark.parametrize("threads", [0, 1, 3])
def test_each_input_once_in_order_inline_or_a_batch_ahead(tmp_path, threads):
  items, bad = _inputs(tmp_path, 40)
  step = decode_dofn.DecodeBatchDoFn(
      decode_settings.DecodeSettings(threads=threads), SIZE)
  step.setup()
  outputs = []
  for start in range(0, len(items), 8):
    outputs.extend(step.process(items[start:start + 8]))
  outputs.extend(step.finish_bundle() or [])
  step.teardown()
  decoded_keys, failed = [], {}
  for output in outputs:
    value = _plain(output)
    if isinstance(output, pvalue.TaggedOutput):
      failed[value.key] = (value.stage, value.reason)
      continue
    assert isinstance(value, elements.DecodedBatch)
    assert value.pixels.shape == (len(value.image_keys), 24, 32, 3)
    decoded_keys.extend(k.key for k in value.image_keys)
  assert failed == bad
  good = [i.image_key.key for i in items if i.image_key.key not in bad]
  assert decoded_keys == good  # in input order, each once
  # The same pixels as decoding one at a time.
  one = batch_lib.load_pixels(items[0], SIZE, decode_settings.DecodeSettings())
  first = next(_plain(o) for o in outputs
               if isinstance(_plain(o), elements.DecodedBatch))
  np.testing.assert_array_equal(first.pixels[0], one)


def _plain(output):
  """The value of an output, as process yields it or finish_bundle wraps
  it (a WindowedValue, maybe tagged)."""
  if isinstance(output, pvalue.TaggedOutput):
    output = output.value
  return output.value if isinstance(output, windowed_value.WindowedValue) else (
      output)


def test_a_batch_with_no_image_emits_only_failures(tmp_path):
  items = [elements.ImageInput(elements.ImageKey(f"x{i}"), data=b"")
           for i in range(3)]
  decoded, failed = batch_lib.assemble(
      items, [batch_lib.load_pixels(i, SIZE, decode_settings.DecodeSettings())
              for i in items])
  assert decoded is None
  assert [(f.key, f.stage, f.reason) for f in failed] == [
      (f"x{i}", failures.STAGE_DECODE, failures.REASON_EMPTY)
      for i in range(3)]
