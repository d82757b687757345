"""Checks a model against the TF Hub image contract before a long job.

    python -m pipelines.inspect_model --model MODEL [--task classification]
        [--signature NAME] [--labels_file FILE] [--image_size H,W] [--json]

Takes the same model flags as ``pipelines.embed`` (``--model`` may also be
given as the first argument), and loads the model the way a job's workers
would. Prints the format, every signature, the expected image size, the
output width and each contract rule as PASS or FAIL with the values found.
Exit status 0 when every rule passes, 1 when one fails, 2 when the model
cannot be loaded at all or a flag is wrong.
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List, Optional

from pipelines.cli import quiet

_RENAMED = {"--labels": "--labels_file"}


def _parser() -> argparse.ArgumentParser:
  from transforms.model import settings as model_settings  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(
      prog="python -m pipelines.inspect_model",
      description=__doc__.splitlines()[0],
      formatter_class=argparse.RawDescriptionHelpFormatter,
      allow_abbrev=False)
  parser.add_argument("model_arg", nargs="?", metavar="MODEL",
                      help="the same as --model")
  model_settings.add_flags(parser)
  # The name pipelines.embed uses; --labels is Beam's (job labels) there.
  parser.add_argument("--labels_file", default=None,
                      help="Class names, one per line, line i = class i.")
  parser.add_argument("--json", action="store_true",
                      help="print the report as JSON")
  parser.add_argument("--verbose", nargs="?", const=True, default=False)
  return parser


def _fail(message: str, model: Optional[str], as_json: bool) -> int:
  if as_json:
    print(json.dumps({"model": model, "passed": False, "error": message}))
  else:
    print(f"FAIL  {message}")
  return 2


def main(argv: Optional[List[str]] = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  as_json = "--json" in argv
  for arg in argv:
    old = arg.split("=", 1)[0]
    if old in _RENAMED:
      return _fail(f"{old} is not a flag of inspect_model: expected "
                   f"{_RENAMED[old]} FILE (the flag pipelines.embed uses)",
                   None, as_json)
  quiet.configure(quiet.wants_verbose(argv))
  from transforms.core import flags  # pylint: disable=g-import-not-at-top
  from transforms.model import description  # pylint: disable=g-import-not-at-top
  from transforms.model import report as model_report  # pylint: disable=g-import-not-at-top
  from transforms.model import settings as model_settings  # pylint: disable=g-import-not-at-top
  args = _parser().parse_args(argv)
  if args.model_arg and args.model and args.model_arg != args.model:
    return _fail(f"two models given: {args.model_arg!r} and --model "
                 f"{args.model!r}; expected one", args.model, as_json)
  args.model = args.model or args.model_arg
  if not args.model:
    return _fail("--model is required (a SavedModel directory, gs:// path "
                 "or TF Hub / Kaggle Models handle)", None, as_json)
  try:
    settings = model_settings.from_flags(args)
    report = model_report.inspect_model(settings, args.labels_file)
  except (description.ModelError, flags.ConfigError) as e:
    return _fail(str(e), args.model, as_json)
  if as_json:
    print(json.dumps(report.to_dict(), indent=2))
  else:
    print(report.format())
  return 0 if report.passed else 1


if __name__ == "__main__":
  from pipelines.cli import process_exit  # pylint: disable=g-import-not-at-top
  process_exit.exit_now(main())
