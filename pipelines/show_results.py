"""Prints a readable table of a classification job's Parquet results.

    python -m pipelines.show_results OUTPUT_DIR
"""
from __future__ import annotations

import argparse
import glob
import os
import sys

import pyarrow.parquet as pq


def format_table(rows) -> str:
  lines = []
  width = max([len(os.path.basename(r["key"])) for r in rows] + [5])
  for row in sorted(rows, key=lambda r: r["key"]):
    names = row.get("top_k_labels") or [str(i) for i in row["top_k_indices"]]
    cells = [f"{name.split(',')[0]} ({score:.2f})"
             for name, score in zip(names, row["top_k_scores"])]
    lines.append(f"{os.path.basename(row['key']):<{width}}  " +
                 " | ".join(cells))
  return "\n".join(lines)


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("output_dir")
  args = parser.parse_args(argv)
  rows = []
  for path in sorted(glob.glob(os.path.join(args.output_dir,
                                            "results-*.parquet"))):
    rows += pq.read_table(path).to_pylist()
  if not rows:
    print(f"no Parquet results under {args.output_dir}", file=sys.stderr)
    return 1
  print(format_table(rows))
  return 0


if __name__ == "__main__":
  sys.exit(main())
