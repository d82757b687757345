"""``pipelines.search --html PAGE``: the hits of each query with
thumbnails, laid out as the report's neighbours."""
from __future__ import annotations

from typing import Dict, List, Sequence

from transforms.core import file_names
from transforms.report import page
from transforms.report import thumbnails


def page_html(labels: Sequence[str], results: List[Dict]) -> str:
  """labels: each query's image path or key; results: as search prints
  them with --json."""
  thumbs = page.Thumbs()
  entries = []
  for label, result in zip(labels, results):
    query_image = thumbs.img(label, thumbnails.thumbnail_uri(label), "")
    hits = []
    for hit in result["hits"]:
      key, escaped = hit["key"], hit.get("key_escaped", False)
      hits.append((file_names.shown(key, escaped), thumbs.img(
          key, thumbnails.thumbnail_uri(file_names.path_of(key, escaped))),
                   hit["cosine"]))
    entries.append((f"query {result['query']}", query_image, hits))
  return page.document("Search", [page.neighbours_section(entries)], thumbs)



