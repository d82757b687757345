"""Source: TFRecord files of ``tf.train.Example`` holding encoded images.

The image is the first value of the bytes feature ``--image_feature``
(default ``image/encoded``); the key is ``--key_feature`` (default
``image/filename``), falling back to ``<file path>:<record index>``. Each
file is read sequentially with Beam's TFRecord framing (CRC-checked, any
Beam filesystem, gzip detected from the extension), so record indices are
exact; a damaged record fails itself and the rest of its file, with keys
``<file path>:<index>``.
"""
from __future__ import annotations

from typing import Optional, Sequence, Union

import apache_beam as beam

from transforms.core import elements
from transforms.core import failures
from transforms.read import keep_new
from transforms.read import listing
from transforms.read import storage


def _example_pb2():
  """TensorFlow's ``tf.train.Example`` protos, imported (with TensorFlow)
  only by jobs that read TFRecords."""
  from tensorflow.core.example import example_pb2  # pylint: disable=g-import-not-at-top
  return example_pb2


def _first_value(feature) -> Union[str, bytes, None]:
  kind = feature.WhichOneof("kind")
  values = getattr(feature, kind).value if kind else []
  if not values:
    return None
  value = values[0]
  return str(value) if kind != "bytes_list" else value


def parse_example(record: bytes, index_key: str, image_feature: str,
                  key_feature: str):
  """Serialized Example -> (ImageKey, image bytes).

  Raises:
    failures.ImageFailure: not an Example, or the image feature is missing.
  """
  try:
    example = _example_pb2().Example.FromString(record)
  except Exception as e:  # pylint: disable=broad-except
    raise failures.ImageFailure(failures.REASON_BAD_RECORD,
                                f"not a tf.train.Example: {e}") from None
  features = example.features.feature
  key = index_key
  if key_feature in features:
    value = _first_value(features[key_feature])
    if value:
      key = value.decode("utf-8", "replace") if isinstance(
          value, bytes) else value
  if image_feature not in features or features[image_feature].WhichOneof(
      "kind") != "bytes_list" or not features[image_feature].bytes_list.value:
    raise failures.ImageFailure(
        failures.REASON_MISSING_FEATURE,
        f"record has no bytes feature {image_feature!r} (features: "
        f"{', '.join(sorted(features))})", key=key)
  return elements.ImageKey(key), features[image_feature].bytes_list.value[0]


class ListRecordsDoFn(beam.DoFn):
  """TFRecord path -> (ImageKey, (path, index)) per usable record, or
  failures. Pass one of two: only keys leave it, so the join by key moves
  keys, not image bytes."""

  def __init__(self, image_feature: str, key_feature: str):
    self._image_feature, self._key_feature = image_feature, key_feature

  def process(self, listed: listing.ListedFile):
    path, escaped = listed.key, listed.escaped
    index = 0  # The index of the next record to read.
    try:
      for record in storage.iter_records(listed.path()):
        index_key = f"{path}:{index}"
        index += 1
        try:
          image_key, _ = parse_example(record, index_key,
                                       self._image_feature, self._key_feature)
        except failures.ImageFailure as e:
          yield failures.failure_from(index_key, failures.STAGE_READ, e,
                                      escaped)
          continue
        yield (image_key._replace(
            origin=f"{path}\x00{index - 1:012d}",
            escaped=escaped and image_key.key == index_key),
               (listed, index - 1))
    except Exception as e:  # pylint: disable=broad-except
      # The framing is broken: nothing from here on can be trusted; the rest
      # of the file is one input, one failure.
      message = f"{type(e).__name__}: {e}".encode(
          "utf-8", "backslashreplace").decode("utf-8")
      yield failures.failure_output(
          f"{path}:{index}", failures.STAGE_READ, failures.REASON_BAD_RECORD,
          f"TFRecord framing broken at record {index}; the rest of the file "
          f"is unreadable: {message}", escaped)


class ReadKeptRecordsDoFn(beam.DoFn):
  """(path, [(index, ImageKey), ...]) -> ImageInput (with the bytes) for
  those records.
  Pass two: reads the file again and keeps the records the join kept."""

  def __init__(self, image_feature: str):
    self._image_feature = image_feature

  def process(self, element):
    listed_tuple, wanted = element
    listed = listing.ListedFile(*listed_tuple)
    keys = dict(wanted)
    for index, record in enumerate(storage.iter_records(listed.path())):
      if index in keys:
        example = _example_pb2().Example.FromString(record)
        data = example.features.feature[self._image_feature].bytes_list.value[0]
        yield elements.ImageInput(keys[index], data=data)


class ReadTFRecordImages(beam.PTransform):
  """TFRecord globs -> ImageInput (with the bytes) and Failure outputs.

  Records whose key has a result in ``done`` are not decoded; of records
  that share a key, the first (lowest file path, then index) is kept.
  """

  def __init__(self, patterns: Sequence[str], image_feature: str,
               key_feature: str, done: Optional[beam.PCollection] = None,
               live_job: Optional[str] = None):
    super().__init__()
    self._patterns = list(patterns)
    self._image_feature, self._key_feature = image_feature, key_feature
    self._done = done
    self._live_job = live_job

  def expand(self, pbegin):
    listed = (listing.match_files(pbegin, self._patterns)
              | "ListRecords" >> beam.ParDo(ListRecordsDoFn(
                  self._image_feature, self._key_feature)).with_outputs(
                      failures.FAILURES_TAG, main="records"))
    kept = listed.records | "KeepNewOnce" >> keep_new.KeepNewOnce(
                self._done, self._live_job)
    images = (kept.kept
              | "ByFile" >> beam.Map(
                  lambda item: (tuple(item[1][0]), (item[1][1], item[0])))
              | "GroupByFile" >> beam.GroupByKey()
              | "ReadKept" >> beam.ParDo(ReadKeptRecordsDoFn(
                  self._image_feature)))
    failed = ((listed[failures.FAILURES_TAG], kept[failures.FAILURES_TAG])
              | "AllReadFailures" >> beam.Flatten())
    return {"images": images, failures.FAILURES_TAG: failed}
