"""A long list read whole by one worker, or in byte ranges by several
(issue 34): its listing alone (pieces, then rows), on the Beam path that
Dataflow and ``gs://`` inputs take (``--list_split_bytes``).

    python -m benchmarks.list_split [--lines 2000000] [--split_mb 8]

Writes a CSV manifest and a URL list of ``--lines`` lines each, then lists
each (``text_ranges.SplitLists`` and the format's lister, as
``read.source`` wires them, without the join that follows; two worker
processes), once read whole and once in ranges
of ``--split_mb``, alternating, and reports wall time, rows per second and
the process tree's peak RSS (sampled). Both must list the same number of
inputs.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_WHOLE = 2**50


def _child(kind: str, path: str, split: int, out: str) -> None:
  import logging  # pylint: disable=g-import-not-at-top
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  from transforms.read import listing  # pylint: disable=g-import-not-at-top
  from transforms.read import manifest  # pylint: disable=g-import-not-at-top
  from transforms.read import text_ranges  # pylint: disable=g-import-not-at-top
  from transforms.read import url_list  # pylint: disable=g-import-not-at-top
  logging.getLogger().setLevel(logging.ERROR)
  lister: beam.DoFn
  if kind == "manifest":
    split_lists = text_ranges.SplitLists(split, manifest.quote_of,
                                         manifest.pieces_of)
    lister = manifest.ListManifestDoFn("uri", "key", ())
  else:
    split_lists, lister = text_ranges.SplitLists(split), url_list.ListUrlsDoFn()
  with beam.Pipeline(options=PipelineOptions([
      "--direct_running_mode=multi_processing",
      "--direct_num_workers=2"])) as p:
    _ = (listing.match_files(p, [path])
         | "Pieces" >> split_lists
         | "List" >> beam.ParDo(lister)
         | "Count" >> beam.combiners.Count.Globally()
         | beam.Map(lambda n: open(out, "w").write(str(n))))


def main(argv=None) -> None:
  argv = list(sys.argv[1:] if argv is None else argv)
  if argv[:1] == ["--child"]:
    _child(argv[1], argv[2], int(argv[3]), argv[4])
    return
  parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
  parser.add_argument("--lines", type=int, default=2_000_000)
  parser.add_argument("--split_mb", type=int, default=8)
  parser.add_argument("--repeats", type=int, default=2)
  args = parser.parse_args(argv)
  from benchmarks import scale  # pylint: disable=g-import-not-at-top
  with tempfile.TemporaryDirectory() as tmp:
    lists = {"manifest": os.path.join(tmp, "m.csv"),
             "urls": os.path.join(tmp, "u.txt")}
    with open(lists["manifest"], "w") as f:
      f.write("key,uri,caption\n")
      f.writelines(f'k{i},gs://b/{i % 977}/{i}.jpg,"a, caption {i}"\n'
                   for i in range(args.lines))
    with open(lists["urls"], "w") as f:
      f.writelines(f"https://h{i % 97}.example/{i}.jpg\n"
                   for i in range(args.lines))
    best: Dict[Tuple[str, str], Tuple[float, int]] = {}
    for _ in range(args.repeats):
      for kind, path in lists.items():
        for name, split in (("whole", _WHOLE),
                            ("ranges", args.split_mb * 2**20)):
          out = os.path.join(tmp, "count")
          start = time.monotonic()
          proc = subprocess.Popen(
              [sys.executable, "-m", "benchmarks.list_split", "--child",
               kind, path, str(split), out], cwd=ROOT,
              env=dict(os.environ, PYTHONPATH=ROOT))
          peak = scale.tree_peak_rss(proc, 20)
          wall = time.monotonic() - start
          listed = int(open(out).read())
          assert proc.returncode == 0 and listed == args.lines, listed
          if (kind, name) not in best or wall < best[kind, name][0]:
            best[kind, name] = (wall, peak)
    size = {k: os.path.getsize(p) >> 20 for k, p in lists.items()}
    for (kind, name), (wall, peak) in best.items():
      print(f"{kind:8s} {size[kind]:4d} MB {name:6s} wall {wall:6.1f} s  "
            f"{args.lines / wall:9,.0f} rows/s  peak RSS {peak >> 20:5d} MB")


if __name__ == "__main__":
  main()
