"""Output options end to end: inline decoding, failures in the results'
format, gzip TFRecords, the text table of show_results, and the model
hand-off from launcher to worker."""
from __future__ import annotations

import glob
import os
import pickle

import numpy as np
import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from pipelines import show_results
from tests import conftest
from tests import image_corpus
from transforms.model import handler as model_handler
from transforms.model import handoff
from transforms.model import process_policy
from transforms.model import settings as model_settings


@pytest.fixture(scope="module")
def mixed_dir(tmp_path_factory):
  """Four good images of distinct colours and two bad files."""
  folder = tmp_path_factory.mktemp("mixed")
  for i, color in enumerate([(255, 0, 0), (0, 200, 0), (0, 0, 255),
                             (90, 90, 90)]):
    (folder / f"good{i}.png").write_bytes(
        image_corpus.encode(image_corpus.solid("RGB", color), "PNG"))
  (folder / "page.jpg").write_bytes(b"<html>not found</html>")
  (folder / "empty.png").write_bytes(b"")
  return folder


def _inputs(folder):
  return sorted(str(p) for p in folder.iterdir())


def test_inline_decoding_gives_the_same_results(simple_model, mixed_dir,
                                                tmp_path):
  by_threads = {}
  for threads in ("0", "1"):
    out = str(tmp_path / f"t{threads}")
    conftest.run_embed(["--model", simple_model, "--input",
                        str(mixed_dir / "*"), "--output", out,
                        "--decode_threads", threads])
    rows = conftest.read_parquet_rows(out)
    failures = conftest.read_failures(out)
    keys = [r["key"] for r in rows] + [f["key"] for f in failures]
    assert sorted(keys) == _inputs(mixed_dir)  # each exactly once
    by_threads[threads] = {r["key"]: r["embedding"] for r in rows}
  conftest.assert_same_vectors(by_threads["0"], by_threads["1"])


def test_failures_in_the_results_format(simple_model, mixed_dir, tmp_path):
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", simple_model, "--input",
                      str(mixed_dir / "*"), "--output", out,
                      "--failures_format", "results"])
  assert not glob.glob(os.path.join(out, "failures", "*.jsonl"))
  files = glob.glob(os.path.join(out, "failures", "failures-*.parquet"))
  assert files
  table = pq.ParquetDataset(files).read()
  assert table.schema.names == ["key", "stage", "reason", "message", "key_escaped"]
  failures = sorted((os.path.basename(k), r) for k, r in zip(
      table.column("key").to_pylist(), table.column("reason").to_pylist()))
  assert failures == [("empty.png", "empty_file"),
                      ("page.jpg", "not_an_image")]


def _read_examples(pattern, compression):
  files = sorted(glob.glob(pattern))
  assert files, pattern
  records = tf.data.TFRecordDataset(files, compression_type=compression)
  return [tf.train.Example.FromString(r.numpy()) for r in records]


def test_gzip_tfrecord_results_and_failures(simple_model, mixed_dir,
                                            tmp_path):
  parquet_out = str(tmp_path / "parquet")
  conftest.run_embed(["--model", simple_model, "--input",
                      str(mixed_dir / "*"), "--output", parquet_out])
  expected = {r["key"]: r["embedding"]
              for r in conftest.read_parquet_rows(parquet_out)}
  out = str(tmp_path / "tfr")
  conftest.run_embed(["--model", simple_model, "--input",
                      str(mixed_dir / "*"), "--output", out,
                      "--output_format", "tfrecord", "--compression", "gzip",
                      "--failures_format", "results"])
  results = _read_examples(os.path.join(out, "results-*.tfrecord.gz"),
                           "GZIP")
  got = {e.features.feature["key"].bytes_list.value[0].decode():
         list(e.features.feature["embedding"].float_list.value)
         for e in results}
  assert len(results) == len(got) == 4
  assert got.keys() == expected.keys()
  for key, vector in got.items():
    np.testing.assert_allclose(vector, expected[key], rtol=1e-6)
  failures = _read_examples(
      os.path.join(out, "failures", "failures-*.tfrecord.gz"), "GZIP")
  reasons = sorted(e.features.feature["reason"].bytes_list.value[0].decode()
                   for e in failures)
  assert reasons == ["empty_file", "not_an_image"]


@conftest.needs_shared
def test_show_results_names_the_cat(tmp_path, capsys):
  photos = [os.path.join(conftest.IMAGENET_DIR, n)
            for n in ("cat.bmp", "hot_dog.jpg", "parrot.jpg")]
  out = str(tmp_path / "out")
  conftest.run_embed(["--model", conftest.MOBILENET_CLS, "--task",
                      "classification", "--labels_file", conftest.IMAGENET_LABELS,
                      "--top_k", "3", "--score", "softmax", "--input",
                      *photos, "--output", out])
  capsys.readouterr()
  assert show_results.main([out]) == 0
  lines = {line.split()[0]: line
           for line in capsys.readouterr().out.splitlines()}
  assert sorted(lines) == ["cat.bmp", "hot_dog.jpg", "parrot.jpg"]
  first = lines["cat.bmp"].split("|")[0]
  assert "cat" in first.lower(), lines["cat.bmp"]
  assert "hotdog" in lines["hot_dog.jpg"].split("|")[0].replace(" ", "")
  assert show_results.main([str(tmp_path / "nothing")]) == 1


def test_handoff_is_keyed_on_the_settings_the_worker_unpickles(
    simple_model):
  settings = model_settings.ModelSettings(handle=simple_model)
  model = process_policy.load_for(settings, (32, 32))
  handoff.offer(settings, (32, 32), "tensorflow", model)
  # The worker's handler arrives pickled; its settings are equal, not same.
  worker = pickle.loads(pickle.dumps(
      model_handler.HubImageModelHandler(settings, (32, 32))))
  assert worker.load_model() is model
  # Taken once: a second worker in the process loads its own copy.
  second = worker.load_model()
  assert second is not model
  # Different settings never receive the launcher's model.
  handoff.offer(settings, (32, 32), "tensorflow", model)
  other = model_handler.HubImageModelHandler(
      model_settings.ModelSettings(handle=simple_model, max_batch_size=64),
      (32, 32))
  assert other.load_model() is not model
  # Nor does another image size (the model was traced for 32 x 32).
  handoff.offer(settings, (32, 32), "tensorflow", model)
  assert model_handler.HubImageModelHandler(
      settings, (24, 24)).load_model() is not model
  pixels = np.zeros((2, 32, 32, 3), np.uint8)
  np.testing.assert_allclose(second.run_uint8(pixels)["default"],
                             model.run_uint8(pixels)["default"], rtol=1e-6)


def test_inference_args_are_refused_when_the_pipeline_is_built(
    simple_model):
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.ml.inference.base import RunInference  # pylint: disable=g-import-not-at-top
  handler = model_handler.HubImageModelHandler(
      model_settings.ModelSettings(handle=simple_model), (32, 32))
  loads = []
  handler.load_model = lambda: loads.append(1)  # type: ignore[method-assign]
  pipeline = beam.Pipeline("FnApiRunner")
  with pytest.raises(ValueError, match=r"inference_args are not supported, "
                     r"got \['temperature'\]"):
    _ = (pipeline | beam.Create([np.zeros((32, 32, 3), np.uint8)])
         | RunInference(handler, inference_args={"temperature": 1}))
  # Refused while the step was added to the pipeline: nothing ran, no model
  # was loaded.
  assert loads == []
