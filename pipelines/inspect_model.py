"""Checks a model against the TF Hub image contract before a long job.

    python -m pipelines.inspect_model MODEL [--task classification]
        [--signature NAME] [--labels_file FILE] [--image_size H,W] [--json]

Prints the format, every signature, the expected image size, the output
width and each contract rule as PASS or FAIL with the values found. Exit
status 0 when every rule passes, 1 when one fails, 2 when the model cannot
be loaded at all.
"""
from __future__ import annotations

import argparse
import json

from transforms.job import quiet


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.splitlines()[0],
      formatter_class=argparse.RawDescriptionHelpFormatter)
  parser.add_argument("model", help="SavedModel directory, gs:// path or "
                      "TF Hub handle")
  parser.add_argument("--task", default="feature_vector",
                      choices=("feature_vector", "classification"))
  parser.add_argument("--signature", default=None)
  parser.add_argument("--labels_file", "--labels", dest="labels_file",
                      default=None,
                      help="class names, one per line (as pipelines.embed)")
  parser.add_argument("--image_size", default=None)
  parser.add_argument("--json", action="store_true",
                      help="print the report as JSON")
  parser.add_argument("--verbose", action="store_true")
  args = parser.parse_args(argv)
  quiet.configure(args.verbose)
  from transforms.core import flags  # pylint: disable=g-import-not-at-top
  from transforms.model import loading as model_loading  # pylint: disable=g-import-not-at-top
  from transforms.model import report as model_report  # pylint: disable=g-import-not-at-top
  try:
    report = model_report.inspect_model(
        args.model, args.task, signature=args.signature, labels=args.labels_file,
        image_size=flags.parse_image_size(args.image_size))
  except (model_loading.ModelError, flags.ConfigError) as e:
    if args.json:
      print(json.dumps({"model": args.model, "passed": False,
                        "error": str(e)}))
    else:
      print(f"FAIL  {e}")
    return 2
  if args.json:
    print(json.dumps(report.to_dict(), indent=2))
  else:
    print(report.format())
  return 0 if report.passed else 1


if __name__ == "__main__":
  from transforms.job import process_exit  # pylint: disable=g-import-not-at-top
  process_exit.exit_now(main())
