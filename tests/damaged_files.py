"""Folders of containers with the damage real uploads leave, shared by the
job's tests (test_damaged_containers) and the int8 sample's
(test_image_sample): what each file holds and what the job keeps."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from tests import image_corpus


def png(i: int) -> bytes:
  return image_corpus.encode(
      image_corpus.solid("RGB", (40 * i % 256, 90, 200 - 20 * i)), "PNG")


def example_records(names):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  out = []
  for name in names:
    example = tf.train.Example(features=tf.train.Features(feature={
        "image/encoded": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[png(len(out))])),
        "image/filename": tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[name.encode()])),
    }))
    out.append(example.SerializeToString())
  return out


def write_records(path, records) -> bytes:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  with tf.io.TFRecordWriter(str(path)) as writer:
    for record in records:
      writer.write(record)
  return path.read_bytes()


# The keys the job processes from tfrecord_folder, in listing order.
TFRECORD_KEPT = ["g0", "g1", "g2", "c0", "c1", "f0"]


def tfrecord_folder(folder):
  """A good file, one cut short inside its last record, one with a byte
  flipped in its second record's data, and a text file; returns the
  failures the job gives them, {key suffix: reason}."""
  folder.mkdir()
  write_records(folder / "a_good.tfrecord",
                example_records(["g0", "g1", "g2"]))
  whole = write_records(folder / "b_cut.tfrecord",
                        example_records(["c0", "c1", "c2"]))
  (folder / "b_cut.tfrecord").write_bytes(whole[:-40])
  records = example_records(["f0", "f1", "f2"])
  flipped = bytearray(write_records(folder / "c_flipped.tfrecord",
                                    records))
  flipped[len(records[0]) + 16 + 12 + 30] ^= 0xFF   # record 1, in its data
  (folder / "c_flipped.tfrecord").write_bytes(bytes(flipped))
  (folder / "d_notes.txt").write_text("these are not records\n" * 20)
  return {"b_cut.tfrecord:2": "bad_record",
          "c_flipped.tfrecord:1": "bad_record", "d_notes.txt:0": "bad_record"}


# The keys the job processes from parquet_folder, in listing order.
PARQUET_KEPT = ["a0", "a1", "a2", "b0", "b1"]
# The rows of its file with a flipped byte: their keys read, their images
# fail the page checksum.
PARQUET_FLIPPED = ["e0", "e1"]


def parquet_folder(folder):
  """img2dataset's stats file (sorting first), two good files, one cut in
  half and one whose image column has another name; returns the failures
  the job gives them, {file name: reason}."""
  folder.mkdir()

  def table(keys, column="image"):
    return pa.table({"key": keys, column: [png(i) for i in range(len(keys))]})

  (folder / "00000_stats.json").write_text('{"count": 3, "successes": 3}')
  pq.write_table(table(["a0", "a1", "a2"]), folder / "00000.parquet")
  pq.write_table(table(["b0", "b1"]), folder / "00001.parquet")
  pq.write_table(table(["c0", "c1", "c2"]), folder / "00002.parquet")
  cut = (folder / "00002.parquet").read_bytes()
  (folder / "00002.parquet").write_bytes(cut[:len(cut) // 2])
  pq.write_table(table(["d0"], column="jpg"), folder / "00003.parquet")
  # Written with page checksums, then a byte flipped in its last page:
  # found by the checksum, not decoded as another image.
  pq.write_table(table(["e0", "e1"]), folder / "00004.parquet",
                 write_page_checksum=True)
  image = pq.ParquetFile(folder / "00004.parquet").metadata.row_group(
      0).column(1)
  # The middle of the image column's first page (its dictionary: the PNGs),
  # past the page header, which the checksum does not cover.
  flipped = bytearray((folder / "00004.parquet").read_bytes())
  flipped[(image.dictionary_page_offset + image.data_page_offset) // 2] ^= (
      0xFF)
  (folder / "00004.parquet").write_bytes(bytes(flipped))
  return {"00000_stats.json": "bad_file", "00002.parquet": "bad_file",
          "00003.parquet": "wrong_schema"}
