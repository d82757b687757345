"""gs:// end to end against a local GCS emulator (gcp-storage-emulator):
file, TFRecord and manifest inputs, Parquet/TFRecord/failure outputs, and
the model itself on gs://."""
from __future__ import annotations

import csv
import glob
import io
import json
import os
import signal
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import tensorflow as tf

from tests import conftest
from tests import gcs_emulator_server as gcs_emulator

pytestmark = conftest.needs_shared


@pytest.fixture(scope="module")
def gcs(tmp_path_factory):
  with gcs_emulator.running_emulator(
      str(tmp_path_factory.mktemp("gcs"))) as url:
    storage = gcs_emulator.client(url)
    bucket = storage.create_bucket("lake")
    gcs_emulator.upload_dir(bucket, conftest.IMAGENET_DIR, "images")
    yield url, storage, bucket


def _run(url, argv, cwd=conftest.ROOT):
  env = dict(os.environ, STORAGE_EMULATOR_HOST=url, PYTHONPATH=conftest.ROOT)
  return subprocess.run([sys.executable, "-m", "pipelines.embed", *argv],
                        cwd=cwd, env=env, capture_output=True, text=True,
                        timeout=300, check=False)


def _blobs(storage, prefix):
  return sorted(b.name for b in storage.list_blobs("lake", prefix=prefix))


def _parquet_rows(storage, prefix):
  rows = []
  for name in _blobs(storage, prefix):
    if name.endswith(".parquet"):
      data = storage.bucket("lake").blob(name).download_as_bytes()
      rows += pq.ParquetFile(io.BytesIO(data)).read().to_pylist()
  return rows


def test_files_in_parquet_out_with_the_model_on_gcs(gcs, simple_model):
  url, storage, bucket = gcs
  gcs_emulator.upload_dir(bucket, simple_model, "models/simple")
  # The converted model goes to a cache on gs:// that workers would share.
  argv = ["--model", "gs://lake/models/simple", "--input",
          "gs://lake/images/*", "--engine", "openvino", "--openvino_cache",
          "gs://lake/openvino_cache"]
  done = _run(url, argv + ["--output", "gs://lake/out/files"])
  assert done.returncode == 0, done.stderr
  assert "results written:   12" in done.stdout
  cached = _blobs(storage, "openvino_cache/")
  assert sorted(os.path.splitext(name)[1] for name in cached) == [
      ".bin", ".xml"], cached
  stamps = [storage.bucket("lake").get_blob(name).updated for name in cached]
  # A second launch reads the cache instead of converting and writing again.
  again = _run(url, argv + ["--output", "gs://lake/out/files_again"])
  assert again.returncode == 0, again.stderr
  assert _blobs(storage, "openvino_cache/") == cached
  assert [storage.bucket("lake").get_blob(name).updated
          for name in cached] == stamps
  rows = _parquet_rows(storage, "out/files/results-")
  expected = {f"gs://lake/images/{name}"
              for name in os.listdir(conftest.IMAGENET_DIR)}
  failures = [json.loads(line) for name in _blobs(storage, "out/files/failures/")
              for line in bucket.blob(name).download_as_text().splitlines()]
  keys = [r["key"] for r in rows] + [f["key"] for f in failures]
  assert sorted(keys) == sorted(expected)  # each exactly once
  assert [f["reason"] for f in failures] == ["not_an_image"]  # the .json


def test_tfrecord_and_manifest_inputs_tfrecord_out(gcs, tmp_path):
  url, storage, bucket = gcs
  photos = [p for p in conftest.photo_paths() if p.endswith(".jpg")][:3]
  record = tmp_path / "images.tfrecord"
  with tf.io.TFRecordWriter(str(record)) as writer:
    for path in photos:
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          "image/encoded": tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[open(path, "rb").read()])),
          "image/filename": tf.train.Feature(bytes_list=tf.train.BytesList(
              value=[os.path.basename(path).encode()]))})).SerializeToString())
  bucket.blob("records/images.tfrecord").upload_from_filename(str(record))
  manifest = io.StringIO()
  writer = csv.writer(manifest)
  writer.writerow(["uri", "sku"])
  for i, path in enumerate(photos):
    writer.writerow([f"gs://lake/images/{os.path.basename(path)}", i])
  writer.writerow(["gs://lake/images/missing.jpg", 9])
  bucket.blob("manifests/m.csv").upload_from_string(manifest.getvalue())
  base = ["--model", conftest.MOBILENET_CLS, "--task", "classification",
          "--labels_file", conftest.IMAGENET_LABELS, "--top_k", "1"]
  done = _run(url, base + ["--input_format", "tfrecord", "--input",
                           "gs://lake/records/*.tfrecord", "--output",
                           "gs://lake/out/tfr", "--output_format",
                           "tfrecord", "--failures_format", "results"])
  assert done.returncode == 0, done.stderr
  (name,) = [n for n in _blobs(storage, "out/tfr/results-")]
  data = bucket.blob(name).download_as_bytes()
  path = tmp_path / "results.tfrecord"
  path.write_bytes(data)
  examples = [tf.train.Example.FromString(r.numpy())
              for r in tf.data.TFRecordDataset([str(path)])]
  labels = {e.features.feature["key"].bytes_list.value[0].decode():
            e.features.feature["top_k_labels"].bytes_list.value[0].decode()
            for e in examples}
  assert sorted(labels) == sorted(os.path.basename(p) for p in photos)
  assert "cat" in labels["cat_720p.jpg"].lower()
  done = _run(url, base + ["--input_format", "manifest", "--input",
                           "gs://lake/manifests/m.csv", "--passthrough_columns",
                           "sku", "--output", "gs://lake/out/manifest"])
  assert done.returncode == 0, done.stderr
  rows = _parquet_rows(storage, "out/manifest/results-")
  assert sorted(r["sku"] for r in rows) == ["0", "1", "2"]
  failures = [json.loads(line)
              for n in _blobs(storage, "out/manifest/failures/")
              for line in bucket.blob(n).download_as_text().splitlines()]
  assert [(f["key"], f["reason"]) for f in failures] == [
      ("gs://lake/images/missing.jpg", "not_found")]


def test_report_reads_and_writes_gcs(gcs, simple_model):
  url, storage, bucket = gcs
  gcs_emulator.upload_dir(bucket, simple_model, "models/report")
  done = _run(url, ["--model", "gs://lake/models/report", "--input",
                    "gs://lake/images/*.jpg", "--output",
                    "gs://lake/out/report"])
  assert done.returncode == 0, done.stderr
  env = dict(os.environ, STORAGE_EMULATOR_HOST=url, PYTHONPATH=conftest.ROOT)
  made = subprocess.run([sys.executable, "-m", "pipelines.report",
                         "gs://lake/out/report"], cwd=conftest.ROOT, env=env,
                        capture_output=True, text=True, timeout=300,
                        check=False)
  assert made.returncode == 0, made.stderr
  assert made.stdout.strip() == "gs://lake/out/report/report.html"
  page = bucket.blob("out/report/report.html").download_as_text()
  jpgs = [n for n in os.listdir(conftest.IMAGENET_DIR) if n.endswith(".jpg")]
  # Every photo's thumbnail was read from gs:// (no placeholders).
  assert page.count('data-thumb="t') >= len(jpgs)
  assert "no preview" not in page
  for name in jpgs:
    assert name in page
  # The same results indexed and searched on gs://: nothing local is made,
  # and the index is saved beside them (reuse is tested locally).
  def tool(module, *argv):
    return subprocess.run([sys.executable, "-m", module, *argv],
                          cwd=conftest.ROOT, env=env, capture_output=True,
                          text=True, timeout=300, check=False)
  indexed = tool("pipelines.index", "gs://lake/out/report", "--duplicates",
                 "0.999")
  assert indexed.returncode == 0, indexed.stderr
  assert indexed.stdout.splitlines()[-1] == "gs://lake/out/report/index"
  assert not os.path.exists(os.path.join(conftest.ROOT, "gs:"))
  names = [n.rsplit("/", 1)[1] for n in _blobs(storage, "out/report/index/")]
  assert "manifest.json" in names and "duplicates.parquet" in names
  assert any(n.startswith("vectors-") for n in names)
  key = _parquet_rows(storage, "out/report/results")[0]["key"]
  found = tool("pipelines.search", "gs://lake/out/report", "--key", key,
               "--k", "1")
  assert found.returncode == 0, found.stderr
  assert found.stdout.split("\t")[2].strip() == key


def test_webdataset_shards_and_parquet_images_on_gcs(gcs, simple_model,
                                                     tmp_path):
  import pyarrow as pa  # pylint: disable=g-import-not-at-top
  import webdataset as wds  # pylint: disable=g-import-not-at-top
  url, storage, bucket = gcs
  photos = conftest.photo_paths()[:4]
  shard = tmp_path / "00000.tar.gz"
  import gzip  # pylint: disable=g-import-not-at-top
  with gzip.open(shard, "wb") as stream, wds.TarWriter(stream) as sink:
    for i, path in enumerate(photos):
      with open(path, "rb") as f:
        sink.write({"__key__": f"s{i}", os.path.splitext(path)[1][1:]:
                    f.read(), "cls": str(i)})
  bucket.blob("shards/00000.tar.gz").upload_from_filename(str(shard))
  table = pa.table({"image": [open(p, "rb").read() for p in photos]})
  sink_file = io.BytesIO()
  pq.write_table(table, sink_file, row_group_size=2)
  bucket.blob("tables/t.parquet").upload_from_string(sink_file.getvalue())
  base = ["--model", simple_model]
  done = _run(url, base + ["--input_format", "webdataset", "--input",
                           "gs://lake/shards/*", "--passthrough_columns",
                           "cls", "--output", "gs://lake/out/wds"])
  assert done.returncode == 0, done.stderr
  rows = _parquet_rows(storage, "out/wds/results-")
  assert sorted((r["key"], r["cls"]) for r in rows) == [
      (f"gs://lake/shards/00000.tar.gz:s{i}", i) for i in range(4)]
  done = _run(url, base + ["--input_format", "parquet", "--input",
                           "gs://lake/tables/*.parquet", "--output",
                           "gs://lake/out/pq"])
  assert done.returncode == 0, done.stderr
  assert sorted(r["key"] for r in _parquet_rows(storage, "out/pq/results-")
                ) == [f"gs://lake/tables/t.parquet:{i}" for i in range(4)]


def _handlers_in(obj, depth=0):
  """Every HubImageModelHandler reachable from a DoFn's pickled graph."""
  from transforms.model import handler  # pylint: disable=g-import-not-at-top
  if isinstance(obj, handler.HubImageModelHandler):
    yield obj
    return
  if depth > 6:
    return
  if isinstance(obj, (tuple, list)):
    children = list(obj)
  elif isinstance(obj, dict):
    children = list(obj.values())
  elif hasattr(obj, "__dict__") and not isinstance(obj, type):
    children = list(vars(obj).values())
  else:
    return
  for child in children:
    yield from _handlers_in(child, depth + 1)


def test_an_int8_template_records_the_gated_model(gcs, tmp_path):
  """On Dataflow the launcher quantizes and gates, writes the int8 model to
  the gs:// cache, and the template's workers get that model's key."""
  from apache_beam.internal import pickler  # pylint: disable=g-import-not-at-top
  from apache_beam.portability.api import beam_runner_api_pb2  # pylint: disable=g-import-not-at-top
  from benchmarks import corpus  # pylint: disable=g-import-not-at-top
  from tests import test_dataflow_offline as dataflow  # pylint: disable=g-import-not-at-top
  url, storage, bucket = gcs
  crops = str(tmp_path / "crops")
  corpus.make_corpus(conftest.IMAGENET_DIR, crops, 120, seed=3)
  gcs_emulator.upload_dir(bucket, crops, "int8_photos")
  template = tmp_path / "template.json"
  done = _run(url, [
      "--model", conftest.MOBILENET_V1_SMALL, "--task", "classification",
      "--input", "gs://lake/int8_photos/*", "--output", "gs://lake/int8_out",
      "--precision", "int8", "--openvino_cache", "gs://lake/ov_cache",
      # The tiny MobileNet's int8 is not what this test is about.
      "--int8_min_top1", "0.5", "--int8_min_top5", "0.5",
      "--template_location", str(template),
      # No --setup_file: what is staged is not what this test reads.
      *dataflow.dataflow_flags(tmp_path)[:-2]])
  assert done.returncode == 0, done.stderr[-3000:]
  cached = _blobs(storage, "ov_cache/")
  # The model, content-addressed (int8-KEY-DIGEST), beside its record
  # (int8-KEY.json, which names it).
  keys = {name.split("/")[-1].rsplit(".", 1)[0] for name in cached
          if name.split("/")[-1].startswith("int8-")
          and name.endswith((".xml", ".bin"))}
  assert len(keys) == 1, cached
  (key,) = keys
  assert f"ov_cache/{key.rsplit('-', 1)[0]}.json" in cached
  assert f"ov_cache/{key}.xml" in cached and f"ov_cache/{key}.bin" in cached
  with open(tmp_path / "staging" / "pipeline.pb", "rb") as f:
    pipeline = beam_runner_api_pb2.Pipeline.FromString(f.read())
  found = []
  for transform in pipeline.components.transforms.values():
    if transform.spec.urn != "beam:transform:pardo:v1":
      continue
    payload = beam_runner_api_pb2.ParDoPayload.FromString(
        transform.spec.payload)
    if not payload.do_fn.payload:
      continue  # a ParDo Beam builds with no Python DoFn (the combine's)
    found += list(_handlers_in(pickler.loads(payload.do_fn.payload)))
  assert found, "no model handler in the template"
  for model_handler in found:
    assert model_handler._quantized_key == key  # pylint: disable=protected-access
    assert model_handler._run_precision == "int8"  # pylint: disable=protected-access
  assert not _blobs(storage, "int8_out/")  # nothing ran


def test_a_killed_job_resumes_from_its_parts_on_gcs(gcs, many_images):
  """The parts of a job writing to gs:// survive a SIGKILL (each whole: a
  GCS object appears whole), and --resume finishes from them: every key
  once, the parts renamed into the usual shards."""
  from tests import test_resume  # pylint: disable=g-import-not-at-top
  url, storage, _ = gcs
  out = "gs://lake/resumed"
  argv = test_resume.argv_for(many_images, out)
  env = dict(os.environ, STORAGE_EMULATOR_HOST=url, PYTHONPATH=conftest.ROOT)
  done_at_kill, status = test_resume.kill_mid_run(argv, env)
  assert status == -signal.SIGKILL and done_at_kill > 0
  parts = [n for n in _blobs(storage, "resumed/_parts/results/")
           if ".tmp-" not in n]
  assert parts, "no part committed before the kill"
  committed = sum(
      pq.ParquetFile(io.BytesIO(storage.bucket("lake").blob(name)
                               .download_as_bytes())).metadata.num_rows
      for name in parts)
  done = _run(url, argv + ["--resume"])
  assert done.returncode == 0, done.stderr[-3000:]
  written = int(done.stdout.split("results written:")[1].split()[0])
  assert written == conftest.MANY_IMAGES - committed
  keys = [r["key"] for r in _parquet_rows(storage, "resumed/results-")]
  expected = sorted(p for p in glob.glob(os.path.join(many_images, "*"))
                    if not p.endswith("broken.png"))
  assert sorted(keys) == expected   # each once
  assert not _blobs(storage, "resumed/_parts/")
  assert _blobs(storage, "resumed/failures/failures-")
