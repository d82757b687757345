"""Prints a readable table of a classification job's Parquet results.

    python -m pipelines.show_results OUTPUT_DIR
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import Dict, List, Optional, Sequence

import pyarrow.parquet as pq

from transforms.write import columns
from transforms.write import output_files


def format_table(rows: Sequence[Dict]) -> str:
  """One line per row: file name, then each top class and its score."""
  lines = []
  width = max([len(os.path.basename(r[columns.KEY])) for r in rows] + [5])
  for row in sorted(rows, key=lambda r: r[columns.KEY]):
    names = row.get(columns.TOP_K_LABELS) or [
        str(i) for i in row[columns.TOP_K_INDICES]]
    cells = [f"{name.split(',')[0]} ({score:.2f})"
             for name, score in zip(names, row[columns.TOP_K_SCORES])]
    lines.append(f"{os.path.basename(row[columns.KEY]):<{width}}  " +
                 " | ".join(cells))
  return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
  parser.add_argument("output_dir")
  args = parser.parse_args(argv)
  rows: List[Dict] = []
  for path in sorted(glob.glob(
      output_files.results_glob(args.output_dir) + ".parquet")):
    rows += pq.read_table(path).to_pylist()
  if not rows:
    print(f"no Parquet results under {args.output_dir}", file=sys.stderr)
    return 1
  if columns.TOP_K_SCORES not in rows[0]:
    print(f"{args.output_dir} holds feature vectors, not classifications "
          f"(columns: {', '.join(rows[0])})", file=sys.stderr)
    return 1
  print(format_table(rows))
  return 0


if __name__ == "__main__":
  sys.exit(main())
