"""Puts the report together: read the run, sample, thumbnails, neighbours,
map, failures; returns the HTML."""
from __future__ import annotations

import os
import posixpath
from typing import Dict, List, Optional, Tuple

import numpy as np

from transforms.core import file_names
from transforms.core import tasks
from transforms.index import store
from transforms.report import geometry
from transforms.report import page
from transforms.report import run_outputs
from transforms.report import thumbnails
from transforms.write import columns
from transforms.write import output_files

DEFAULT_MAX_IMAGES = 200
NEIGHBOURS = 5
MAX_MAP_POINTS = 5000


def build_report(output_dir: str, max_images: int = DEFAULT_MAX_IMAGES,
                 thumbnail=thumbnails.thumbnail_uri) -> str:
  """The report of the run under ``output_dir`` as one HTML string.

  Raises:
    FileNotFoundError: no results or failures there.
  """
  run = run_outputs.read_run(output_dir)
  counts = run.summary_counts()
  shown = run_outputs.sample_rows(run.rows, max_images)
  thumbs = page.Thumbs()
  cache: Dict[str, Optional[str]] = {}

  escaped = {row[columns.KEY] for row in run.rows
             if row.get(columns.KEY_ESCAPED)}

  def label(key: str) -> str:
    return file_names.shown(key, key in escaped)

  def image(key: str, css: str = "") -> str:
    if key not in cache:
      cache[key] = thumbnail(file_names.path_of(key, key in escaped))
    return thumbs.img(key, cache[key], css)

  sections = [page.run_section(run.metadata, counts, len(shown),
                               len(run.rows))]
  if counts.get("fetched") or run.fetch_failures_by_host:
    sections.append(page.fetch_section(
        counts, run.seconds, run.fetch_failures_by_host, run.failures))
  if run.rows and run.task == tasks.TASK_CLASSIFICATION:
    kind = run.metadata.get("score", "logits")
    cards = []
    for i in shown:
      row = run.rows[i]
      labels = row.get(columns.TOP_K_LABELS) or [
          str(c) for c in row[columns.TOP_K_INDICES]]
      cards.append((label(row[columns.KEY]), image(row[columns.KEY]),
                    list(zip(labels, row[columns.TOP_K_SCORES])), kind))
    sections.append(page.classification_section(cards))
  elif run.rows:
    vectors = run.embeddings()
    neighbours = (_indexed_neighbours(output_dir, run, vectors, shown) or
                  _all_pairs_neighbours(run, vectors, shown))
    entries = []
    for i, found in zip(shown, neighbours):
      key = run.rows[i][columns.KEY]
      entries.append((label(key), image(key), [
          (label(other), image(other), sim) for other, sim in found]))
    sections.append(page.neighbours_section(entries))
    sections.append(page.map_section(_map_points(run, vectors, shown, thumbs),
                                     len(run.rows)))
  sections.append(page.failures_section(run.failures))
  title = f"Run report: {posixpath.basename(output_dir.rstrip('/'))}"
  return page.document(title, sections, thumbs)


def _all_pairs_neighbours(run, vectors: np.ndarray, shown: List[int]
                          ) -> List[List[Tuple[str, float]]]:
  index, sims = geometry.nearest_neighbours(vectors, shown, NEIGHBOURS)
  return [[(run.rows[j][columns.KEY], float(s))
           for j, s in zip(index[q], sims[q]) if j >= 0]
          for q in range(len(shown))]


def _indexed_neighbours(output_dir: str, run, vectors: np.ndarray,
                        shown: List[int]
                        ) -> Optional[List[List[Tuple[str, float]]]]:
  """Neighbours from ``OUTPUT/index`` (pipelines.index) when there is one:
  it may span several runs' folders. None without an index."""
  folder = os.path.join(output_dir.rstrip("/"), output_files.INDEX_DIR)
  if "://" in output_dir or not store.exists(folder) or not shown:
    return None
  index, keys, _ = store.load(folder)
  sims, ids = store.search(index, vectors[shown], NEIGHBOURS + 1)
  found = []
  for q, i in enumerate(shown):
    own = run.rows[i][columns.KEY]
    found.append([(keys.keys[j], float(s)) for j, s in zip(ids[q], sims[q])
                  if j >= 0 and keys.keys[j] != own][:NEIGHBOURS])
  return found


def _map_points(run, vectors: np.ndarray, shown: List[int],
                thumbs: page.Thumbs):
  xy = geometry.pca_2d(vectors)
  low, high = xy.min(axis=0), xy.max(axis=0)
  scaled = (xy - low) / np.maximum(high - low, 1e-12)
  drawn = sorted(set(shown) | set(
      run_outputs.sample_rows(run.rows, MAX_MAP_POINTS)))
  return [(float(scaled[i, 0]), float(scaled[i, 1]),
           run.rows[i][columns.KEY], thumbs.id_of(run.rows[i][columns.KEY]))
          for i in drawn]
