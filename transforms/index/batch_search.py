"""Many queries at once, as a Beam job (issue 37): the neighbours of every
vector of a results folder, written as Parquet.

``SearchResultsFolder(index_dir, results_dir, k)`` reads the folder's
result files (keys and embeddings, Parquet or TFRecord), a worker per
file, searches each batch in the index (loaded once per worker process,
shared by its threads) and yields one row per query: ``key``,
``key_escaped``, ``neighbour_keys`` (best first) and their cosine
``scores``. A query whose key is indexed finds itself first.
"""
from __future__ import annotations

from typing import Dict, Iterator

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


def write_neighbours(index_dir: str, results_dir: str, output: str, k: int,
                     pipeline_args=()) -> None:
  """Runs the job: ``OUTPUT/neighbours-SSSSS-of-NNNNN.parquet``."""
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  with beam.Pipeline(options=PipelineOptions(list(pipeline_args))) as p:
    _ = (p
         | "Neighbours" >> SearchResultsFolder(index_dir, results_dir, k)
         | "Write" >> beam.io.WriteToParquet(
             output.rstrip("/") + "/neighbours", SCHEMA,
             file_name_suffix=".parquet"))
