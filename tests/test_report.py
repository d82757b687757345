"""pipelines.report: the run report, opened in a real headless browser."""
from __future__ import annotations

import os
import shutil

import pytest

from pipelines import report as report_cli
from transforms.report import geometry
from tests import browser
from tests import conftest


PHOTOS = ("cat.bmp", "cat_720p.jpg", "hot_dog.jpg", "parrot.jpg", "owl.jpg",
          "kite_and_cold.jpg", "expected_top5.json")
SCRIPT_NAME = "<script>.jpg"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
  folder = tmp_path_factory.mktemp("inputs")
  for name in PHOTOS:
    shutil.copy(os.path.join(conftest.IMAGENET_DIR, name), folder / name)
  shutil.copy(os.path.join(conftest.IMAGENET_DIR, "pets.jpg"),
              folder / SCRIPT_NAME)
  return folder


def _report(out, tmp_path, capsys):
  capsys.readouterr()
  assert report_cli.main([out, "--max_images", "50"]) == 0
  path = capsys.readouterr().out.strip()
  assert path == os.path.join(out, "report.html") and os.path.exists(path)
  return path


def _check_page(page, errors):
  assert errors == []
  widths = page.evaluate(
      "Array.from(document.querySelectorAll('img[data-thumb]'))"
      ".map(i => [i.alt, i.naturalWidth])")
  assert widths and all(w > 0 for _, w in widths), widths
  # The file named <script>.jpg is text, not markup.
  assert SCRIPT_NAME in page.inner_text("body")
  assert page.evaluate("document.querySelectorAll('body script').length") == 2


@conftest.needs_shared
def test_classification_report_in_chromium(inputs, tmp_path, capsys):
  out = str(tmp_path / "cls")
  conftest.run_embed(["--model", conftest.MOBILENET_CLS, "--task",
                      "classification", "--labels_file",
                      conftest.IMAGENET_LABELS, "--score", "softmax",
                      "--top_k", "3", "--input", str(inputs / "*"),
                      "--output", out])
  path = _report(out, tmp_path, capsys)
  with browser.open_page(path) as (page, errors):
    _check_page(page, errors)
    run = page.inner_text("#run")
    assert "classification" in run and "224,224" in run and "softmax" in run
    assert "float32" in run
    import openvino  # pylint: disable=g-import-not-at-top
    assert f"openvino {openvino.get_version()}" in run  # the engine row
    cat = page.locator(f'.card[data-key="{inputs / "cat.bmp"}"]')
    assert "cat" in cat.locator(".bar").first.inner_text().lower()
    assert page.locator(".card").count() == 7  # 6 photos + <script>.jpg
    failure = page.locator('#failures tr[data-reason="not_an_image"]')
    assert failure.count() == 1
    assert "expected_top5.json" in failure.inner_text()
    assert "not_an_image" in page.inner_text("#failure-reasons")
    page.screenshot(path=str(tmp_path / "classification.png"),
                    full_page=True)
  assert os.path.getsize(tmp_path / "classification.png") > 10_000


@conftest.needs_shared
def test_embedding_report_neighbours_and_map(inputs, tmp_path, capsys):
  out = str(tmp_path / "fv")
  conftest.run_embed(["--model", conftest.MOBILENET_FV, "--input",
                      str(inputs / "*"), "--output", out,
                      "--output_format", "tfrecord"])
  path = _report(out, tmp_path, capsys)
  with browser.open_page(path) as (page, errors):
    _check_page(page, errors)
    assert "feature_vector" in page.inner_text("#run")  # from run.json
    cat = page.locator(f'.nn[data-key="{inputs / "cat.bmp"}"]')
    neighbours = cat.locator("figure[data-key]").evaluate_all(
        "fs => fs.map(f => f.dataset.key)")
    assert str(inputs / "cat_720p.jpg") in neighbours[:2], neighbours
    assert page.locator("#map circle").count() == 7
    # Hover a sampled point: its thumbnail shows (points may overlap, so
    # the event goes to the element itself).
    page.locator('#map circle[data-key="cat.bmp"]').dispatch_event(
        "mouseenter", {"clientX": 40, "clientY": 40})
    assert page.is_visible("#tip")
    assert page.evaluate("document.querySelector('#tip img').naturalWidth") > 0
    assert page.inner_text("#tip") == "cat.bmp"
    page.screenshot(path=str(tmp_path / "embeddings.png"), full_page=True)


def test_nearest_neighbours_in_blocks_equal_the_full_search():
  import numpy as np  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  vectors = rng.standard_normal((1000, 16)).astype(np.float32)
  queries = [0, 17, 999]
  small_idx, small_sim = geometry.nearest_neighbours(vectors, queries, 4,
                                                     block_rows=64)
  unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
  sims = unit[queries] @ unit.T
  sims[np.arange(3), queries] = -np.inf
  expected = np.argsort(-sims, axis=1)[:, :4]
  np.testing.assert_array_equal(small_idx, expected)
  np.testing.assert_allclose(small_sim, np.take_along_axis(sims, expected, 1),
                             rtol=1e-5)


def test_missing_run_is_an_error(tmp_path, capsys):
  assert report_cli.main([str(tmp_path)]) == 2
  assert "no results" in capsys.readouterr().err
