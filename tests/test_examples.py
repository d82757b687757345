"""The examples in ``examples/`` run, on the shared MobileNets, and give
what they say."""
from __future__ import annotations

import csv
import glob
import importlib.util
import json
import os

import numpy as np
import pyarrow.parquet as pq

from tests import conftest
from tests.conftest import needs_shared

pytestmark = needs_shared


def _example(name):
  spec = importlib.util.spec_from_file_location(
      name, os.path.join(conftest.ROOT, "examples", f"{name}.py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)  # type: ignore[union-attr]
  return module


def test_product_embeddings_joins_the_catalogue(tmp_path):
  catalogue = tmp_path / "products.csv"
  photos = {"p-cat": "cat.bmp", "p-owl": "owl.jpg", "p-cat-again": "cat.bmp",
            "p-gone": "gone.jpg"}
  with open(catalogue, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(["product_id", "title", "image"])
    for product_id, name in photos.items():
      writer.writerow([product_id, f"a {name}, \"quoted\"",
                       os.path.join(conftest.IMAGENET_DIR, name)])
  out = tmp_path / "out"
  assert _example("product_embeddings").main([
      "--catalogue", str(catalogue), "--model", conftest.MOBILENET_FV,
      "--output", str(out)]) == 0
  rows = {}
  for path in glob.glob(str(out / "products*.parquet")):
    rows.update({r["product_id"]: r for r in pq.read_table(path).to_pylist()})
  failures = [json.loads(line) for path in glob.glob(str(out / "failures*"))
              for line in open(path)]
  assert sorted(rows) == ["p-cat", "p-cat-again", "p-owl"]
  assert [(f["key"], f["reason"]) for f in failures] == [("p-gone",
                                                           "not_found")]
  assert rows["p-cat"]["title"] == 'a cat.bmp, "quoted"'
  cat, again, owl = (np.array(rows[k]["embedding"])
                     for k in ("p-cat", "p-cat-again", "p-owl"))
  assert cat.shape == (1280,)
  # The same photo under two products: the same vector; another photo: not.
  np.testing.assert_allclose(cat, again, atol=conftest.SAME_RUN_ATOL)
  cosine = cat @ owl / np.linalg.norm(cat) / np.linalg.norm(owl)
  assert cosine < 0.9
