"""The decode policy, case by case, on bytes (no pipeline)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from tests import image_corpus
from transforms.core import failures
from transforms.decode import image as decode
from transforms.decode import resize

CORPUS = image_corpus.corpus()
GOOD = {k: v for k, v in CORPUS.items() if not isinstance(v[1], str)}
BAD = {k: v for k, v in CORPUS.items() if isinstance(v[1], str)}


@pytest.mark.parametrize("name", sorted(GOOD))
def test_good_images_decode_to_rgb(name):
  data, color = GOOD[name]
  pixels = resize.prepare_image(data, (16, 16))
  assert pixels.dtype == np.uint8 and pixels.shape == (16, 16, 3)
  if color is not None:
    # Lossy formats (JPEG, CMYK JPEG) are close, lossless ones exact.
    np.testing.assert_allclose(pixels.reshape(-1, 3).mean(axis=0), color,
                               atol=6)


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_images_fail_with_their_reason(name):
  data, reason = BAD[name]
  with pytest.raises(failures.ImageFailure) as raised:
    resize.prepare_image(data, (16, 16))
  assert raised.value.reason == reason, raised.value.message


def test_sixteen_bit_values_are_scaled_not_clipped():
  for value, expected in ((0, 0), (257 * 100, 100), (65535, 255)):
    image = decode.decode_image(image_corpus.png_sixteen_bit(value))
    assert set(np.asarray(image).ravel()) == {expected}


def test_exif_orientation_makes_the_photo_upright():
  # Stored 40 wide x 30 high with orientation 6 ("rotate 90 CW to view"):
  # upright it is 30 wide x 40 high, and the stored top row becomes the
  # right-hand column.
  stored = Image.new("RGB", (40, 30), (0, 0, 255))
  stored.paste((255, 0, 0), (0, 0, 40, 5))  # red band along the top
  image = decode.decode_image(image_corpus.with_exif_orientation(stored, 6))
  assert image.size == (30, 40)
  pixels = np.asarray(image)
  assert pixels[:, -2:, 0].mean() > 200 and pixels[:, :10, 2].mean() > 200


def test_transparent_pixels_use_the_documented_background():
  # README: transparent pixels are composited on white.
  clear = Image.new("RGBA", (10, 10), (0, 0, 255, 0))
  assert set(map(tuple, np.asarray(decode.to_rgb(clear)).reshape(-1, 3))) == {
      (255, 255, 255)}
  half = Image.new("RGBA", (10, 10), (255, 0, 0, 128))
  pixels = np.asarray(decode.to_rgb(half))
  np.testing.assert_allclose(pixels[0, 0], (255, 127, 127), atol=2)


def test_bomb_is_rejected_on_the_header_and_limit_is_configurable():
  data = image_corpus.png_claiming_size(2000, 2000)
  with pytest.raises(failures.ImageFailure, match="4000000 pixels"):
    decode.decode_image(data, max_pixels=1_000_000)


def test_jpeg_draft_decodes_large_photos_smaller():
  data = image_corpus.noise_jpeg(size=(1600, 1200))
  assert decode.decode_image(data).size == (1600, 1200)
  assert decode.decode_image(data, draft_size=448).size == (800, 600)
  assert decode.decode_image(data, draft_size=100).size == (200, 150)


def _halves(width=80, height=40):
  image = Image.new("RGB", (width, height), (255, 0, 0))
  image.paste((0, 0, 255), (width // 2, 0, width, height))
  return image


def test_resize_squash_stretches():
  pixels = resize.resize_image(_halves(), (20, 20), "squash")
  assert pixels.shape == (20, 20, 3)
  assert pixels[10, 2, 0] > 200 and pixels[10, 17, 2] > 200


def test_resize_center_crop_keeps_aspect_and_crops():
  wide = Image.new("RGB", (90, 30), (0, 255, 0))
  wide.paste((255, 0, 0), (0, 0, 30, 30))
  wide.paste((0, 0, 255), (60, 0, 90, 30))
  pixels = resize.resize_image(wide, (20, 20), "center_crop")
  assert pixels.shape == (20, 20, 3)
  # Only the green middle third survives.
  assert pixels[:, :, 1].min() > 200


def test_resize_pad_keeps_everything_with_black_bars():
  pixels = resize.resize_image(_halves(80, 40), (20, 20), "pad")
  assert pixels.shape == (20, 20, 3)
  assert pixels[:4].max() == 0 and pixels[-4:].max() == 0
  assert pixels[10, 2, 0] > 200 and pixels[10, 17, 2] > 200


def test_unknown_resize_mode_names_the_choices():
  with pytest.raises(ValueError, match="squash, center_crop, pad|"
                     r"\('squash', 'center_crop', 'pad'\)"):
    resize.resize_image(_halves(), (8, 8), "zoom")


SEEDS = [data for data, _ in CORPUS.values() if data]


@settings(max_examples=300, deadline=2000,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=2048),
    st.tuples(st.sampled_from(SEEDS), st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 255)), max_size=8),
              st.integers(0, 10**6)).map(
                  lambda t: _mutate(*t))))
def test_random_and_mutated_bytes_never_escape_as_other_errors(data):
  try:
    pixels = resize.prepare_image(data, (8, 8), max_pixels=4_000_000)
  except failures.ImageFailure as e:
    assert e.reason in {failures.REASON_EMPTY, failures.REASON_NOT_AN_IMAGE,
                        failures.REASON_TRUNCATED, failures.REASON_CORRUPT,
                        failures.REASON_TOO_LARGE}
  else:
    assert pixels.shape == (8, 8, 3) and pixels.dtype == np.uint8


def _mutate(seed: bytes, flips, cut: int) -> bytes:
  data = bytearray(seed)
  for position, value in flips:
    data[position % len(data)] = value
  return bytes(data[:max(1, cut % (len(data) + 1))])
