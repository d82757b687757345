"""The library (``transforms.api``) on the shared MobileNets: what a user's
own pipeline gets, and that the command gives the same."""
from __future__ import annotations

import glob
import json
import os

import apache_beam as beam
from apache_beam.testing.util import assert_that
from apache_beam.typehints.decorators import TypeCheckError
import pyarrow.parquet as pq
import pytest

from tests import conftest
from tests.conftest import needs_shared
from transforms import api

pytestmark = needs_shared

_CLASSIFY = dict(task="classification", labels_file=conftest.IMAGENET_LABELS,
                 top_k=5)


@pytest.fixture(scope="module")
def classify():
  """One classifier for the module: the model is loaded, probed and
  converted once, when it is constructed."""
  return api.InferImages(conftest.MOBILENET_CLS, **_CLASSIFY)


# What the pipelines' outputs held, by name: written by _Keep on the
# in-process runner's workers (pickled by reference, so it is this dict).
_GATHERED: dict = {}


class _Keep:
  """An ``assert_that`` matcher that keeps what it is given."""

  def __init__(self, name):
    self._name = name

  def __call__(self, elements):
    _GATHERED[self._name] = list(elements)


def _run(build):
  """Runs ``build(pipeline, collect)`` on the local runner; returns what
  was collected, by name."""
  _GATHERED.clear()

  def collect(name):
    return lambda pcoll: assert_that(pcoll, _Keep(name),
                                     label=f"Collect{name}")

  with beam.Pipeline(options=api.pipeline_options()) as pipeline:
    build(pipeline, collect)
  return dict(_GATHERED)


def test_bytes_in_the_cat_is_a_cat_and_a_corrupt_image_fails(classify):
  photos = {os.path.basename(p): open(p, "rb").read()
            for p in conftest.photo_paths()}
  cut = photos["owl.jpg"][:len(photos["owl.jpg"]) // 3]
  inputs = list(photos.items()) + [("cut.jpg", cut), ("empty", b""),
                                   ("none", None)]

  def build(pipeline, collect):
    inferred = pipeline | beam.Create(inputs) | classify
    collect("results")(inferred.results)
    collect("failures")(inferred.failures)

  got = _run(build)
  rows = {r["key"]: r for r in got["results"]}
  failed = {f["key"]: f for f in got["failures"]}
  # Every input key once, in one of the two.
  assert sorted(list(rows) + list(failed)) == sorted(k for k, _ in inputs)
  assert rows["cat.bmp"]["top_k_labels"][0] == "Egyptian cat"
  expected = conftest.expected_top5()
  agree = [k for k, ref in expected.items()
           if rows[k]["top_k_indices"][0] == ref["top5_index"][0]]
  assert len(agree) >= 11, sorted(agree)
  assert (failed["cut.jpg"]["stage"], failed["cut.jpg"]["reason"]) == (
      "decode", "truncated")
  assert failed["empty"]["reason"] == "empty_file"
  assert (failed["none"]["stage"], failed["none"]["reason"]) == (
      "read", "missing_image")
  assert all(f["message"] for f in failed.values())


def test_inside_a_pipeline_with_steps_before_and_after(classify):
  # Paths in, the user's own keys; results joined back to the user's data.
  catalogue = {"sku-1": "cat.bmp", "sku-2": "hot_dog.jpg",
               "sku-3": "missing.jpg"}

  def build(pipeline, collect):
    products = pipeline | beam.Create(sorted(catalogue.items()))
    keyed = products | "ToPaths" >> beam.Map(
        lambda kv: (kv[0], os.path.join(conftest.IMAGENET_DIR, kv[1])))
    inferred = keyed | classify
    labelled = inferred.results | "Top1" >> beam.Map(
        lambda row: (row["key"], row["top_k_labels"][0]))
    joined = ({"image": products, "label": labelled}
              | beam.CoGroupByKey()
              | beam.MapTuple(lambda sku, got: (sku, got["image"][0],
                                                list(got["label"]))))
    collect("joined")(joined)
    collect("failures")(inferred.failures)

  got = _run(build)
  assert sorted(got["joined"]) == [
      ("sku-1", "cat.bmp", ["Egyptian cat"]),
      ("sku-2", "hot_dog.jpg", ["hotdog, hot dog, red hot"]),
      ("sku-3", "missing.jpg", [])]
  assert [(f["key"], f["stage"], f["reason"]) for f in got["failures"]] == [
      ("sku-3", "read", "not_found")]


def test_a_wrong_element_type_is_refused_when_the_pipeline_is_built(
    classify):
  pipeline = beam.Pipeline(options=api.pipeline_options())
  names = pipeline | beam.Create(["cat.bmp", "owl.jpg"])
  with pytest.raises(TypeCheckError, match=r"InferImages: expected a "
                     r"PCollection of \(key, image bytes\).*found elements "
                     r"of type str$"):
    _ = names | classify
  numbered = pipeline | "Numbered" >> beam.Create([("a", 1)])
  with pytest.raises(TypeCheckError, match="found elements of type "
                     r"Tuple\[str, int\]"):
    _ = numbered | "Again" >> classify


@pytest.mark.parametrize("keywords, message", [
    (dict(top_kk=5), "InferImages: unknown keyword 'top_kk'; did you mean "
     "'top_k'?"),
    (dict(top_k=0), "--top_k: expected a positive integer, found 0"),
    (dict(top_k="five"), "InferImages: argument --top_k: invalid int value: "
     "'five'"),
    (dict(output_format="tfrecord"), "InferImages: 'output_format' is a "
     "keyword of WriteResults, not of InferImages"),
    (dict(precision="int8"), "precision='int8' calibrates and gates on "
     "images like the job's; expected int8_sample="),
])
def test_bad_keywords_are_refused_with_the_commands_checks(keywords,
                                                           message):
  with pytest.raises(api.ConfigError) as raised:
    api.InferImages(conftest.MOBILENET_CLS, "classification", **keywords)
  assert message in str(raised.value)


def test_read_and_write_check_at_construction(tmp_path):
  with pytest.raises(api.ConfigError, match="matches nothing"):
    api.ReadImages(str(tmp_path / "nothing-*.jpg"))
  with pytest.raises(api.ConfigError, match="did you mean 'input_format'"):
    api.ReadImages(conftest.IMAGENET_DIR + "/*", input_fromat="files")
  (tmp_path / "out").mkdir()
  (tmp_path / "out" / "results-00000-of-00001.parquet").write_bytes(b"x")
  with pytest.raises(api.ConfigError, match="already holds 1 result"):
    api.WriteResults(str(tmp_path / "out"))


def test_the_command_writes_what_the_library_writes(classify, tmp_path,
                                                    mobilenet_classified):
  # The command's run: the same model, flags and inputs as `classify`.
  inputs = os.path.join(conftest.IMAGENET_DIR, "*")
  by_command = mobilenet_classified
  by_library = str(tmp_path / "library")
  with beam.Pipeline(options=api.pipeline_options()) as pipeline:
    _ = (pipeline | api.ReadImages(inputs) | classify
         | api.WriteResults(by_library))

  def rows(folder):
    return sorted(conftest.read_parquet_rows(folder), key=lambda r: r["key"])

  ours, theirs = rows(by_library), rows(by_command)
  assert [r["key"] for r in ours] == [r["key"] for r in theirs]
  assert len(ours) == 12
  for mine, command in zip(ours, theirs):
    assert mine["top_k_indices"] == command["top_k_indices"], mine["key"]
    assert mine["top_k_labels"] == command["top_k_labels"]
  assert conftest.read_failures(by_library) == conftest.read_failures(
      by_command)

  def metadata(folder):
    path = sorted(glob.glob(os.path.join(folder, "results-*.parquet")))[0]
    return pq.read_schema(path).metadata

  assert metadata(by_library) == metadata(by_command)
  assert json.loads(metadata(by_library)[
      b"hub_image_beam.decode"])["image_size"] == [224, 224]


def test_streaming_writes_each_window_and_its_late_pane(classify, tmp_path):
  from apache_beam.options.pipeline_options import StandardOptions  # pylint: disable=g-import-not-at-top
  from apache_beam.testing.test_stream import TestStream  # pylint: disable=g-import-not-at-top
  from apache_beam.transforms import trigger  # pylint: disable=g-import-not-at-top
  from apache_beam.transforms import window  # pylint: disable=g-import-not-at-top
  photo = {os.path.basename(p): open(p, "rb").read()
           for p in conftest.photo_paths()}

  def at(seconds, key, data):
    return window.TimestampedValue((key, data), seconds)

  # Two 10 s windows; a bad image in the middle of the first; an image of
  # the first window arriving after the watermark passed it (late, but
  # within the allowed lateness).
  stream = (TestStream()
            .advance_watermark_to(0)
            .add_elements([at(1, "cat.bmp", photo["cat.bmp"]),
                           at(2, "bad", b"not an image"),
                           at(3, "owl.jpg", photo["owl.jpg"])])
            .advance_watermark_to(12)
            .add_elements([at(13, "hot_dog.jpg", photo["hot_dog.jpg"])])
            .add_elements([at(5, "late-pets.jpg", photo["pets.jpg"])])
            .advance_watermark_to_infinity())
  options = api.pipeline_options(["--runner", "DirectRunner"])
  options.view_as(StandardOptions).streaming = True
  out = str(tmp_path / "out")
  with beam.Pipeline(options=options) as pipeline:
    _ = (pipeline | stream
         | beam.WindowInto(
             window.FixedWindows(10),
             trigger=trigger.AfterWatermark(late=trigger.AfterCount(1)),
             allowed_lateness=60,
             accumulation_mode=trigger.AccumulationMode.DISCARDING)
         | classify
         | api.WriteResults(out))

  def keys(path):
    if path.endswith(".parquet"):
      return sorted(pq.read_table(path).column("key").to_pylist())
    return sorted(json.loads(line)["key"] for line in open(path))

  first, second = "19700101T000000Z-19700101T000010Z", (
      "19700101T000010Z-19700101T000020Z")
  written = {os.path.relpath(p, out): keys(p)
             for p in glob.glob(os.path.join(out, "**", "*"), recursive=True)
             if os.path.isfile(p)}
  assert written == {
      f"results-{first}-p0-00000-of-00001.parquet": ["cat.bmp", "owl.jpg"],
      f"results-{first}-p1-00000-of-00001.parquet": ["late-pets.jpg"],
      f"results-{second}-p0-00000-of-00001.parquet": ["hot_dog.jpg"],
      f"failures/failures-{first}-p0-00000-of-00001.jsonl": ["bad"]}
  rows = conftest.read_parquet_rows(out)
  assert {r["key"]: r["top_k_labels"][0] for r in rows}["cat.bmp"] == (
      "Egyptian cat")
  schema = pq.read_schema(os.path.join(
      out, f"results-{second}-p0-00000-of-00001.parquet"))
  assert schema.metadata[b"hub_image_beam.model"].decode() == (
      conftest.MOBILENET_CLS)


def test_int8_takes_its_sample_as_an_argument(tmp_path):
  # A transform cannot see its input when it is built: int8 calibrates
  # and gates on the images given as int8_sample (a glob, or (key, bytes)),
  # read by the read stage's sources. Twelve photos are too few to gate on.
  photos = [(os.path.basename(p), open(p, "rb").read())
            for p in conftest.photo_paths()]
  for sample in (photos, os.path.join(conftest.IMAGENET_DIR, "*.jpg")):
    with pytest.raises(api.ConfigError, match=r"--precision int8: int8 needs "
                       r"at least 100 decodable images .* found \d+ in this "
                       "job"):
      api.InferImages(conftest.MOBILENET_CLS, "classification",
                      precision="int8", int8_sample=sample,
                      openvino_cache=str(tmp_path / "cache"))
  with pytest.raises(api.ConfigError, match="matches nothing"):
    api.InferImages(conftest.MOBILENET_CLS, "classification",
                    precision="int8", int8_sample=str(tmp_path / "*.png"))
