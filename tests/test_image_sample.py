"""The int8 sample reads the job's inputs through the read stage's own
DoFns (issue 35): damaged containers are skipped as the job fails them,
keys are the job's, and URL lists and URL manifests are fetched. It is
spread over the whole job (lowest key hashes; an equal share per shard for
TFRecord and WebDataset), the same in every run."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from tests import damaged_files
from tests import http_server
from transforms.decode import settings as decode_settings
from transforms.fetch import settings as fetch_settings
from transforms.job import image_sample
from transforms.read import settings as read_settings

SIZE = (16, 16)


def _keys(items):
  return [item.image_key.key for item in items]


def test_damaged_tfrecords_sample_what_the_job_keeps(tmp_path):
  folder = tmp_path / "records"
  damaged_files.tfrecord_folder(folder)
  read = read_settings.ReadSettings(patterns=(f"{folder}/*",),
                                    input_format="tfrecord")
  items = image_sample.spread_inputs(read, 100)
  assert sorted(_keys(items)) == sorted(damaged_files.TFRECORD_KEPT)
  # Four from three shards (g, c, f): each shard gives its share.
  four = _keys(image_sample.spread_inputs(read, 4))
  assert len(four) == 4 and {k[0] for k in four} == {"g", "c", "f"}
  pixels = image_sample.decode_all(items, SIZE,
                                   decode_settings.DecodeSettings())
  assert pixels.shape == (6, 16, 16, 3)


def test_damaged_parquet_samples_what_the_job_keeps(tmp_path):
  folder = tmp_path / "parquet"
  damaged_files.parquet_folder(folder)
  read = read_settings.ReadSettings(patterns=(f"{folder}/*",),
                                    input_format="parquet", key_column="key")
  items = image_sample.spread_inputs(read, 100)
  assert sorted(_keys(items)) == sorted(damaged_files.PARQUET_KEPT)
  by_key = {item.image_key.key: item for item in items}
  # The bytes are the rows' own: a0 is image 0 of its file.
  assert by_key["a0"].data == damaged_files.png(0)
  assert by_key["b0"].data == damaged_files.png(0)
  assert by_key["a1"].data == damaged_files.png(1)


def test_url_lists_and_url_manifests_are_fetched_for_the_sample(tmp_path):
  images = {f"s{i}.png": damaged_files.png(i) for i in range(6)}
  with http_server.serving(images) as (url, record):
    listing = tmp_path / "urls.txt"
    listing.write_text("/etc/passwd\nhttp://[abc]/x.png\n" + "".join(
        f"{url}/img/s{i}.png\n" for i in range(6)))
    read = read_settings.ReadSettings(patterns=(str(listing),),
                                      input_format="urls")
    items = image_sample.spread_inputs(read, 5)
    every = [f"{url}/img/s{i}.png" for i in range(6)]
    assert set(_keys(items)) < set(every) and len(items) == 5
    fetch = fetch_settings.FetchSettings(allow_private_addresses=True)
    pixels = image_sample.decode_all(items, SIZE,
                                      decode_settings.DecodeSettings(), fetch)
    assert pixels.shape == (5, 16, 16, 3)
    # Each image is its own: solid colours, distinct per URL.
    assert len({tuple(p[8, 8]) for p in pixels}) == 5
    assert "/etc/passwd" not in record.hits
    # A LAION-style Parquet manifest of URLs.
    manifest = tmp_path / "laion.parquet"
    pq.write_table(pa.table({"url": [f"{url}/img/s{i}.png"
                                     for i in range(3)]}), manifest)
    read = read_settings.ReadSettings(patterns=(str(manifest),),
                                      input_format="manifest",
                                      uri_column="url")
    items = image_sample.spread_inputs(read, 10)
    pixels = image_sample.decode_all(items, SIZE,
                                     decode_settings.DecodeSettings(), fetch)
    assert pixels.shape == (3, 16, 16, 3)
    assert len({tuple(p[8, 8]) for p in pixels}) == 3


def _class_sorted(root, classes, per_class):
  for c in range(classes):
    folder = root / "train" / f"class_{c:03d}"
    folder.mkdir(parents=True)
    for i in range(per_class):
      (folder / f"{i:04d}.png").write_bytes(b"")  # listed, never read here


def test_the_sample_covers_a_class_sorted_tree(tmp_path, monkeypatch):
  """The first 60 of 40 classes x 30 images are two classes; the spread
  sample is nearly all of them, a uniform sample of the keys. The keys
  are relative paths, so the draw is the same in every run."""
  _class_sorted(tmp_path, classes=40, per_class=30)
  monkeypatch.chdir(tmp_path)
  read = read_settings.ReadSettings(patterns=("train/*/*",))
  items = image_sample.spread_inputs(read, 60)
  classes = {key.split("/")[-2] for key in _keys(items)}
  assert len(items) == 60
  # A uniform draw of 60 covers 31 +- 2 of 40 classes; the first 60 in
  # listing order cover 2.
  assert len(classes) >= 26
  # Deterministic: the same inputs, the same sample, in the same order.
  assert _keys(image_sample.spread_inputs(read, 60)) == _keys(items)
  # Order-independent: two globs over the same files (one matching all of
  # them again) give the same sample, each key once.
  both = read_settings.ReadSettings(patterns=("train/class_03*/*",
                                              "train/*/*"))
  assert _keys(image_sample.spread_inputs(both, 60)) == _keys(items)
  # Calibration and check both spread: the first and last 30 each cover
  # many classes.
  assert len({k.split("/")[-2] for k in _keys(items)[:30]}) >= 15
  assert len({k.split("/")[-2] for k in _keys(items)[30:]}) >= 15


def test_a_class_sorted_manifest_is_sampled_over_all_its_rows(tmp_path):
  rows = [f"/data/class_{c:02d}/{i:03d}.jpg" for c in range(20)
          for i in range(50)]
  (tmp_path / "m.csv").write_text("uri\n" + "\n".join(rows) + "\n")
  read = read_settings.ReadSettings(patterns=(str(tmp_path / "m.csv"),),
                                    input_format="manifest")
  items = image_sample.spread_inputs(read, 40)
  assert len({k.split("/")[-2] for k in _keys(items)}) >= 15
  assert set(_keys(items)) <= set(rows)
