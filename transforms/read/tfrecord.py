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

  def __init__(self, image_feature: str, key_feature: str,
               with_images: bool = False):
    """Args:
      with_images: yield ImageInput with the image bytes instead (one
        pass: the local runner's slices, ``read.slices``, which need no
        join).
    """
    self._image_feature, self._key_feature = image_feature, key_feature
    self._with_images = with_images

  def process(self, listed: listing.ListedFile):
    path, escaped = listed.key, listed.escaped
    index = 0  # The index of the next record to read.
    try:
      for record in storage.iter_records(listed.path()):
        index_key = f"{path}:{index}"
        index += 1
        try:
          image_key, data = parse_example(
              record, index_key, self._image_feature, self._key_feature)
        except failures.ImageFailure as e:
          yield failures.failure_from(index_key, failures.STAGE_READ, e,
                                      escaped)
          continue
        image_key = image_key._replace(
            origin=f"{path}\x00{index - 1:012d}",
            escaped=escaped and image_key.key == index_key)
        yield (elements.ImageInput(image_key, data=data)
               if self._with_images else (image_key, (listed, index - 1)))
    except Exception as e:  # pylint: disable=broad-except
      # The framing is broken: nothing from here on can be trusted; the rest
      # of the file is one input, one failure.
      yield failures.failure_output(
          f"{path}:{index}", failures.STAGE_READ, failures.REASON_BAD_RECORD,
          f"TFRecord framing broken at record {index}: {framing_problem(e)}; "
          "the rest of the file is unreadable", escaped)


def framing_problem(error: Exception) -> str:
  """What broke a TFRecord file's framing, in our words: Beam's messages
  hex-dump the record, and no byte of an input goes into a message."""
  text = str(error)
  if "Fewer than" in text:
    return "the file is cut short inside this record"
  if "length mask" in text:
    return "its length fails its CRC (a damaged byte, or not a TFRecord file)"
  if "data mask" in text:
    return "its data fails its CRC (a damaged byte)"
  return f"the file could not be read ({type(error).__name__})"


class ReadKeptRecordsDoFn(beam.DoFn):
  """(path, [(index, ImageKey), ...]) -> ImageInput (with the bytes) for
  those records, or their failures.

  Pass two: reads the file again, up to the last record kept, so damage
  that pass one failed (after those records) is not read again. A file
  that changed since pass one fails each kept record not yet read."""

  def __init__(self, image_feature: str):
    self._image_feature = image_feature

  def process(self, element):
    listed_tuple, wanted = element
    listed = listing.ListedFile(*listed_tuple)
    keys = dict(wanted)
    last = max(keys)
    index = -1
    try:
      for index, record in enumerate(storage.iter_records(listed.path())):
        if index in keys:
          image_key = keys.pop(index)
          try:
            _, data = parse_example(record, image_key.key,
                                    self._image_feature, "")
          except failures.ImageFailure as e:
            yield failures.failure_output(
                image_key.key, failures.STAGE_READ, e.reason,
                f"{e.message} (record {index} of {listed.key}, which "
                "changed since it was listed)", image_key.escaped)
            continue
          yield elements.ImageInput(image_key, data=data)
        if index >= last:
          return
    except Exception as e:  # pylint: disable=broad-except
      problem = f"the file could not be read past record {index + 1} " \
                f"({type(e).__name__})"
    else:
      problem = f"the file ends after record {index}"
    for at, image_key in sorted(keys.items()):
      yield failures.failure_output(
          image_key.key, failures.STAGE_READ, failures.REASON_BAD_RECORD,
          f"record {at} of {listed.key} was listed, but {problem}: the file "
          "changed since it was listed", image_key.escaped)


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
                  self._image_feature)).with_outputs(
                      failures.FAILURES_TAG, main="images"))
    failed = ((listed[failures.FAILURES_TAG], kept[failures.FAILURES_TAG],
               images[failures.FAILURES_TAG])
              | "AllReadFailures" >> beam.Flatten())
    return {"images": images.images, failures.FAILURES_TAG: failed}
