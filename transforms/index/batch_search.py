"""Many queries at once, as a Beam job (issue 37): the neighbours of every
vector of a results folder, written as Parquet.

``SearchResultsFolder(index_dir, results_dir, k)`` reads the folder's
result files (keys and embeddings, Parquet or TFRecord), a worker per
file, searches each batch in the index (loaded once per worker process,
shared by its threads) and yields one row per query: ``key``,
``key_escaped``, ``neighbour_keys`` (best first) and their cosine
``scores``. A query whose key is indexed finds itself first.

``SearchImages(index_dir, patterns, k)`` takes a glob of images instead,
listed and read by the read stage's own source, and embeds them exactly as
the indexed run did (``query.QueryEmbedder``: its model, checked by
digest, engine, precision and decode) before searching; an image that
cannot be read or decoded becomes a failure row (the embed job's failure
columns), so every listed image comes out once.
"""
from __future__ import annotations

from typing import Dict, Iterator, List, Optional, Sequence

import apache_beam as beam
import pyarrow as pa
from apache_beam.utils import shared

from transforms.index import store
from transforms.index import vectors

SCHEMA = pa.schema([("key", pa.string()), ("key_escaped", pa.bool_()),
                    ("neighbour_keys", pa.list_(pa.string())),
                    ("scores", pa.list_(pa.float32()))])


class _Loaded:
  """An index and its keys, shared by a worker's threads (``Shared``
  needs an object it can hold a weak reference to)."""

  def __init__(self, index_dir: str):
    self.index, self.keys, _ = store.load(index_dir)


class _SearchFileDoFn(beam.DoFn):
  """Result file -> a neighbours row per vector in it."""

  def __init__(self, index_dir: str, k: int, batch: int):
    self._index_dir, self._k, self._batch = index_dir, k, batch
    self._shared = shared.Shared()

  def setup(self):
    self._loaded = self._shared.acquire(lambda: _Loaded(self._index_dir))

  def process(self, path: str) -> Iterator[Dict]:
    index, keys = self._loaded.index, self._loaded.keys
    for batch_keys, escaped, batch in vectors.file_batches(path,
                                                           self._batch):
      sims, ids = store.search(index, batch, self._k)
      for key, key_escaped, row_sims, row_ids in zip(batch_keys, escaped,
                                                     sims, ids):
        found = row_ids >= 0
        yield {"key": key, "key_escaped": key_escaped,
               "neighbour_keys": [keys.keys[i] for i in row_ids[found]],
               "scores": [float(s) for s in row_sims[found]]}


class SearchResultsFolder(beam.PTransform):
  """PBegin -> a neighbours row (``SCHEMA``) per vector of the folder."""

  def __init__(self, index_dir: str, results_dir: str, k: int = 10,
               batch: int = 1024):
    super().__init__()
    self._index_dir, self._results_dir = index_dir, results_dir
    self._k, self._batch = k, batch

  def expand(self, pbegin):
    files = vectors.result_files(self._results_dir)
    if not files:
      raise ValueError(f"{self._results_dir!r} has no results files "
                       "(results-*.parquet or .tfrecord)")
    return (pbegin
            | "ResultFiles" >> beam.Create(files)
            | "SpreadFiles" >> beam.Reshuffle()
            | "Search" >> beam.ParDo(_SearchFileDoFn(
                self._index_dir, self._k, self._batch)))


class _Embedder:
  """An index, its keys and a query embedder, shared by a worker's
  threads."""

  def __init__(self, index_dir: str, openvino_cache: Optional[str],
               force: bool):
    from transforms.index import recipe  # pylint: disable=g-import-not-at-top
    from transforms.index import query  # pylint: disable=g-import-not-at-top
    self.index, self.keys, record = store.load(index_dir)
    self.embedder = query.QueryEmbedder(
        recipe.IndexRecipe.from_json(record), openvino_cache, force)


class _SearchImagesDoFn(beam.DoFn):
  """A batch of ImageInput -> a neighbours row per image, or its failure
  row (tagged ``failures``)."""

  def __init__(self, index_dir: str, k: int, openvino_cache: Optional[str],
               force: bool):
    self._args = (index_dir, openvino_cache, force)
    self._k = k
    self._shared = shared.Shared()

  def setup(self):
    self._loaded = self._shared.acquire(lambda: _Embedder(*self._args))

  def process(self, items: List):
    from transforms.core import failures  # pylint: disable=g-import-not-at-top
    loaded = self._loaded
    embedded, outcomes = loaded.embedder.embed_inputs(items)
    if len(embedded):
      sims, ids = store.search(loaded.index, embedded, self._k)
    row = 0
    for item, failure in zip(items, outcomes):
      if failure is not None:
        yield beam.pvalue.TaggedOutput(failures.FAILURES_TAG,
                                       failure.as_row())
        continue
      found = ids[row] >= 0
      yield {"key": item.image_key.key,
             "key_escaped": item.image_key.escaped,
             "neighbour_keys": [loaded.keys.keys[i]
                                for i in ids[row][found]],
             "scores": [float(s) for s in sims[row][found]]}
      row += 1


class SearchImages(beam.PTransform):
  """PBegin -> {"neighbours": a row (``SCHEMA``) per image that decodes,
  "failures": a failure row per one that does not}."""

  def __init__(self, index_dir: str, patterns: Sequence[str], k: int = 10,
               openvino_cache: Optional[str] = None, force: bool = False,
               batch: int = 32):
    super().__init__()
    self._index_dir, self._patterns = index_dir, tuple(patterns)
    self._k, self._cache, self._force = k, openvino_cache, force
    self._batch = batch

  def expand(self, pbegin):
    from transforms.core import failures  # pylint: disable=g-import-not-at-top
    from transforms.read import settings as read_settings  # pylint: disable=g-import-not-at-top
    from transforms.read import source  # pylint: disable=g-import-not-at-top
    read = pbegin | "ReadQueries" >> source.ReadInputs(
        read_settings.ReadSettings(patterns=self._patterns))
    searched = (read["images"]
                | "Batch" >> beam.BatchElements(
                    min_batch_size=1, max_batch_size=self._batch)
                | "EmbedAndSearch" >> beam.ParDo(_SearchImagesDoFn(
                    self._index_dir, self._k, self._cache,
                    self._force)).with_outputs(failures.FAILURES_TAG,
                                               main="neighbours"))
    read_failures = (read[failures.FAILURES_TAG]
                     | "ReadFailureRows" >> beam.Map(
                         failures.Failure.as_row))
    return {"neighbours": searched.neighbours,
            "failures": (read_failures,
                         searched[failures.FAILURES_TAG])
                        | "AllFailures" >> beam.Flatten()}


def write_neighbours(index_dir: str, queries: str, output: str, k: int,
                     options=None, openvino_cache: Optional[str] = None,
                     force: bool = False) -> None:
  """Runs the job: ``OUTPUT/neighbours-SSSSS-of-NNNNN.parquet``; for a
  glob of images, also ``OUTPUT/failures/failures-*.jsonl``.

  Args:
    queries: a results folder, or a glob of images (when it holds no
      results files).
    options: the PipelineOptions (the entry point's; default Beam's).
  """
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  from transforms.write import columns  # pylint: disable=g-import-not-at-top
  from transforms.write import output_files  # pylint: disable=g-import-not-at-top
  from transforms.write import sinks  # pylint: disable=g-import-not-at-top
  neighbours_prefix = output.rstrip("/") + "/neighbours"
  with beam.Pipeline(options=options or PipelineOptions([])) as p:
    if vectors.result_files(queries):
      found = p | "Neighbours" >> SearchResultsFolder(index_dir, queries, k)
    else:
      searched = p | "Neighbours" >> SearchImages(
          index_dir, [queries], k, openvino_cache, force)
      found = searched["neighbours"]
      _ = searched["failures"] | "WriteFailures" >> sinks.make_sink(
          sinks.JSONL, output_files.failures_prefix(output.rstrip("/")),
          columns.FAILURE_SCHEMA, "none")
    _ = found | "Write" >> sinks.make_sink(sinks.PARQUET, neighbours_prefix,
                                           SCHEMA, "none")
