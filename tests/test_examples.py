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


def test_streaming_embeddings_on_a_test_stream(tmp_path):
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.options.pipeline_options import StandardOptions  # pylint: disable=g-import-not-at-top
  from apache_beam.testing.test_stream import TestStream  # pylint: disable=g-import-not-at-top
  from apache_beam.transforms import window  # pylint: disable=g-import-not-at-top
  from transforms import api  # pylint: disable=g-import-not-at-top
  example = _example("streaming_embeddings")

  def message(seconds, key, name):
    body = json.dumps({"id": key, "uri": os.path.join(conftest.IMAGENET_DIR,
                                                      name)})
    return window.TimestampedValue(body.encode(), seconds)

  # Pub/Sub's stand-in: two 30 s windows, a malformed message and a
  # missing file in the first.
  stream = (TestStream()
            .advance_watermark_to(0)
            .add_elements([message(1, "a", "cat.bmp"),
                           window.TimestampedValue(b"{not json", 2),
                           message(3, "b", "gone.jpg")])
            .advance_watermark_to(40)
            .add_elements([message(41, "c", "owl.jpg")])
            .advance_watermark_to_infinity())
  options = api.pipeline_options(["--runner", "DirectRunner"])
  options.view_as(StandardOptions).streaming = True
  infer = api.InferImages(conftest.MOBILENET_FV)
  out = tmp_path / "out"
  with beam.Pipeline(options=options) as pipeline:
    example.build(pipeline | stream, infer, str(out), 30)
  results = {os.path.basename(p): pq.read_table(p).column("key").to_pylist()
             for p in glob.glob(str(out / "results-*.parquet"))}
  assert results == {
      "results-19700101T000000Z-19700101T000030Z-p0-00000-of-00001.parquet":
          ["a"],
      "results-19700101T000030Z-19700101T000100Z-p0-00000-of-00001.parquet":
          ["c"]}
  (failed,) = glob.glob(str(out / "failures" / "failures-*.jsonl"))
  reasons = sorted((f["key"], f["reason"])
                   for f in map(json.loads, open(failed)))
  assert reasons == [("b", "not_found"), ("message@Timestamp(2)",
                                          "bad_message")]
