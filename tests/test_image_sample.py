"""The int8 sample reads the job's inputs through the read stage's own
DoFns (issue 35): damaged containers are skipped as the job fails them,
keys are the job's, and URL lists and URL manifests are fetched."""
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
  items = image_sample.first_inputs(read, 100)
  assert _keys(items) == damaged_files.TFRECORD_KEPT
  assert _keys(image_sample.first_inputs(read, 4)) == (
      damaged_files.TFRECORD_KEPT[:4])
  pixels = image_sample.decode_all(items, SIZE,
                                   decode_settings.DecodeSettings())
  assert pixels.shape == (6, 16, 16, 3)


def test_damaged_parquet_samples_what_the_job_keeps(tmp_path):
  folder = tmp_path / "parquet"
  damaged_files.parquet_folder(folder)
  read = read_settings.ReadSettings(patterns=(f"{folder}/*",),
                                    input_format="parquet", key_column="key")
  items = image_sample.first_inputs(read, 100)
  assert _keys(items) == damaged_files.PARQUET_KEPT
  # The bytes are the rows' own: a0 is image 0 of its file.
  assert items[0].data == damaged_files.png(0)
  assert items[3].data == damaged_files.png(0)   # b0


def test_url_lists_and_url_manifests_are_fetched_for_the_sample(tmp_path):
  images = {f"s{i}.png": damaged_files.png(i) for i in range(6)}
  with http_server.serving(images) as (url, record):
    listing = tmp_path / "urls.txt"
    listing.write_text("/etc/passwd\nhttp://[abc]/x.png\n" + "".join(
        f"{url}/img/s{i}.png\n" for i in range(6)))
    read = read_settings.ReadSettings(patterns=(str(listing),),
                                      input_format="urls")
    items = image_sample.first_inputs(read, 5)
    assert _keys(items) == [f"{url}/img/s{i}.png" for i in range(5)]
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
    items = image_sample.first_inputs(read, 10)
    pixels = image_sample.decode_all(items, SIZE,
                                     decode_settings.DecodeSettings(), fetch)
    assert pixels.shape == (3, 16, 16, 3)
    assert len({tuple(p[8, 8]) for p in pixels}) == 3
