"""Entry point: nearest neighbours in an index, by image or by key.

    python -m pipelines.search INDEX --image PATH [PATH ...] [--k 10] \
        [--json] [--html PAGE] [--force]
    python -m pipelines.search INDEX --key KEY
    python -m pipelines.search INDEX --queries RESULTS_DIR|'IMAGE_GLOB' \
        --k 10 --output NEIGHBOURS_DIR [Beam pipeline flags]

``INDEX`` is the index folder or the output folder holding ``index/``.
Query images are embedded exactly as the indexed run did (model, engine,
precision, decode: from the index's manifest); when that cannot be
reproduced the search exits 2 saying what differs, unless ``--force``.
``--key`` queries use the indexed vector and always work. One line per hit:
rank, cosine, key; with several queries each group starts ``# query N``.
``--queries`` searches every vector of a results folder as a Beam job
(local runner unless pipeline flags say otherwise) and writes
``NEIGHBOURS_DIR/neighbours-*.parquet``: ``key``, ``key_escaped``,
``neighbour_keys`` and their cosine ``scores``, best first. Given a glob
of images instead (a pattern with no ``results-*`` files under it), the
job reads them with the embed job's reader, embeds them as the indexed run
did, and writes an image that cannot be read or decoded to
``NEIGHBOURS_DIR/failures/failures-*.jsonl`` (the embed job's columns).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional


def _index_folder(path: str) -> str:
  from transforms.index import store  # pylint: disable=g-import-not-at-top
  from transforms.write import output_files  # pylint: disable=g-import-not-at-top
  nested = os.path.join(path, output_files.INDEX_DIR)
  return nested if not store.exists(path) and store.exists(nested) else path


def _existing_index(path: str) -> Optional[str]:
  """The index folder ``path`` names, or None after saying there is none."""
  from transforms.index import store  # pylint: disable=g-import-not-at-top
  folder = _index_folder(path)
  if store.exists(folder):
    return folder
  print(f"error: no index at {path!r} (expected the folder pipelines.index "
        "printed, or the output folder holding index/)", file=sys.stderr)
  return None


def _batch(args, beam_args: List[str]) -> int:
  """``--queries``: the neighbours of a results folder's vectors, or of a
  glob of images embedded as the indexed run did, as a Beam job."""
  from transforms.core import flags  # pylint: disable=g-import-not-at-top
  from transforms.index import batch_search  # pylint: disable=g-import-not-at-top
  from transforms.index import vectors  # pylint: disable=g-import-not-at-top
  from transforms.job import options as options_lib  # pylint: disable=g-import-not-at-top
  if not args.output:
    print("error: --queries needs --output NEIGHBOURS_DIR", file=sys.stderr)
    return 2
  if args.image or args.key:
    print("error: --queries searches a results folder or a glob of images; "
          "expected no --image or --key beside it", file=sys.stderr)
    return 2
  if args.k < 1:
    print(f"error: --k: expected at least 1, found {args.k}", file=sys.stderr)
    return 2
  folder = _existing_index(args.index)
  if folder is None:
    return 2
  cache = None
  if not vectors.result_files(args.queries):
    # A glob of images: refused here, before the job, when the run's
    # embedding cannot be reproduced (the workers embed the same way).
    from transforms.index import recipe  # pylint: disable=g-import-not-at-top
    from transforms.index import query  # pylint: disable=g-import-not-at-top
    from transforms.index import store  # pylint: disable=g-import-not-at-top
    from transforms.model.openvino import cache as ov_cache  # pylint: disable=g-import-not-at-top
    cache = args.openvino_cache or ov_cache.default_dir()
    try:
      query.QueryEmbedder(recipe.IndexRecipe.from_json(
          store.load(folder)[2]), cache, args.force)
    except query.NotReproducible as e:
      print(f"error: {e}", file=sys.stderr)
      return 2
  try:
    options = options_lib.runner_options(beam_args)
    batch_search.write_neighbours(folder, args.queries, args.output, args.k,
                                  options, cache, args.force)
  except (ValueError, flags.ConfigError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(args.output)
  return 0


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m pipelines.search",
                                   description=__doc__.splitlines()[0])
  parser.add_argument("index")
  parser.add_argument("--image", nargs="+", action="extend", default=[])
  parser.add_argument("--key", nargs="+", action="extend", default=[])
  parser.add_argument("--k", type=int, default=10)
  parser.add_argument("--json", action="store_true")
  parser.add_argument("--html", default=None, metavar="PAGE")
  parser.add_argument("--force", action="store_true",
                      help="embed query images even when the run cannot be "
                      "reproduced exactly")
  parser.add_argument("--openvino_cache", default=None)
  parser.add_argument("--queries", default=None,
                      metavar="RESULTS_DIR|IMAGE_GLOB",
                      help="search every vector of this results folder, "
                      "or every image of this glob (embedded as the indexed "
                      "run did), as a Beam job; needs --output")
  parser.add_argument("--output", default=None, metavar="NEIGHBOURS_DIR")
  args, beam_args = parser.parse_known_args(argv)
  if beam_args and not args.queries:
    parser.error(f"unrecognized arguments: {' '.join(beam_args)}")
  if args.queries:
    return _batch(args, beam_args)
  if not args.image and not args.key:
    print("error: expected --image, --key or --queries", file=sys.stderr)
    return 2
  from pipelines.cli import quiet  # pylint: disable=g-import-not-at-top
  quiet.configure(False)
  import numpy as np  # pylint: disable=g-import-not-at-top
  from transforms.index import recipe  # pylint: disable=g-import-not-at-top
  from transforms.index import store  # pylint: disable=g-import-not-at-top
  folder = _existing_index(args.index)
  if folder is None:
    return 2
  index, keys, record = store.load(folder)
  queries, labels, problems = [], [], []
  for key in args.key:
    position = keys.position(key)
    if position is None:
      problems.append(f"key {key!r} is not in the index")
      continue
    queries.append(store.vector(index, position)[0])
    labels.append(key)
  if args.image:
    from transforms.index import query  # pylint: disable=g-import-not-at-top
    from transforms.model.openvino import cache as ov_cache  # pylint: disable=g-import-not-at-top
    try:
      embedder = query.QueryEmbedder(
          recipe.IndexRecipe.from_json(record),
          args.openvino_cache or ov_cache.default_dir(), args.force)
    except query.NotReproducible as e:
      print(f"error: {e}", file=sys.stderr)
      return 2
    vectors, errors = embedder.embed(args.image)
    row = 0
    for path, error in zip(args.image, errors):
      if error:
        problems.append(f"{path}: {error}")
        continue
      queries.append(vectors[row])
      labels.append(path)
      row += 1
  for problem in problems:
    print(f"error: {problem}", file=sys.stderr)
  if not queries:
    return 2
  sims, ids = store.search(index, np.stack(queries), args.k)
  results = []
  for number, (label, row_sims, row_ids) in enumerate(zip(labels, sims, ids),
                                                      start=1):
    hits = [{"rank": rank, "cosine": float(s), "key": keys.keys[i],
             "key_escaped": bool(keys.escaped[i])}
            for rank, (s, i) in enumerate(zip(row_sims, row_ids), start=1)
            if i >= 0]
    results.append({"query": number, "hits": hits})
    if not args.json:
      if len(labels) > 1:
        print(f"# query {number}")
      for hit in hits:
        print(f"{hit['rank']}\t{hit['cosine']:.4f}\t{hit['key']}")
  if args.json:
    print(json.dumps(results, indent=1))
  if args.html:
    from transforms.report import search_page  # pylint: disable=g-import-not-at-top
    with open(args.html, "w", encoding="utf-8") as f:
      f.write(search_page.page_html(labels, results))
  return 1 if problems else 0


if __name__ == "__main__":
  sys.exit(main())
