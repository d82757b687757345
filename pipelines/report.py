"""Writes a run's visual report: one self-contained HTML file.

    python -m pipelines.report OUTPUT_DIR [--output FILE] [--max_images N]

Reads the run's results and failures (Parquet or TFRecord, local or gs://)
and writes OUTPUT_DIR/report.html (or FILE): the run's metadata and counts,
thumbnails with top-k bars (classification) or nearest neighbours and a PCA
map (feature vectors), and every failure. Thumbnails are embedded; the file
opens offline. Prints the path.
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m pipelines.report",
      description=(__doc__ or "").splitlines()[0])
  parser.add_argument("output_dir", help="the run's --output")
  parser.add_argument("--output", default=None,
                      help="where to write (default OUTPUT_DIR/report.html)")
  parser.add_argument("--verbose", action="store_true")
  parser.add_argument("--max_images", type=int, default=200,
                      help="images shown; a deterministic sample of larger "
                      "runs (neighbours still search every row)")
  args = parser.parse_args(argv)
  if args.max_images < 1:
    parser.error(f"--max_images: expected a positive integer, found "
                 f"{args.max_images}")
  from pipelines.cli import quiet  # pylint: disable=g-import-not-at-top
  quiet.configure(args.verbose)
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  from transforms.report import build  # pylint: disable=g-import-not-at-top
  from transforms.write import output_files  # pylint: disable=g-import-not-at-top
  try:
    text = build.build_report(args.output_dir, args.max_images)
  except FileNotFoundError as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  path = args.output or FileSystems.join(args.output_dir.rstrip("/"),
                                         output_files.REPORT_FILE)
  with FileSystems.create(path, mime_type="text/html") as f:
    f.write(text.encode("utf-8"))
  print(path)
  return 0


if __name__ == "__main__":
  sys.exit(main())
