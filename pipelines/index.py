"""Entry point: an index over jobs' embeddings, and near-duplicates.

    python -m pipelines.index OUTPUT_DIR [OUTPUT_DIR ...] [--index_dir D] \
        [--memory_budget 2GB] [--duplicates THRESHOLD] \
        [--parallel [--runner DataflowRunner --project ... (Beam's flags)]]

The index goes to ``OUTPUT_DIR/index/`` (the first folder's) unless
``--index_dir``; ``pipelines.index NEW_OUTPUT --index_dir D`` adds a folder
to an existing index. ``--memory_budget`` (default: half of this machine's
memory) chooses the index: exact or HNSW while the vectors fit, else IVF
with product quantization, trained on a sample, its ``nprobe`` tuned to
recall@10 >= 0.9 and its candidates re-ranked on the exact vectors kept
on disk beside it. The choice, its parameters and the recall measured
against exact search are printed and written to the index's manifest. The
last line printed is the index's path.

``--parallel`` builds an IVF-PQ index (whatever the budget allows) as a
Beam job: trained here on a sample, encoded by a worker per results file,
merged by one (``transforms.index.parallel``). It runs on the local runner,
or on the runner that Beam's flags name, the same flags as
``pipelines.embed`` (``--runner DataflowRunner --project ... --region ...
--temp_location ... --setup_file ./setup.py``; ``--template_location`` and
``--dry_run=True`` as there). On Dataflow the index folder must be on
``gs://``.
"""
from __future__ import annotations

import argparse
import functools
import sys
from typing import List, Optional


def _run_on_beam(options, plan) -> str:
  """Runs the Beam build (``transforms.index.parallel``) on ``options``'
  runner: waits and says what was built, or says what a template or a dry
  run wrote."""
  from transforms.index import build  # pylint: disable=g-import-not-at-top
  from transforms.index import parallel  # pylint: disable=g-import-not-at-top
  from transforms.job import dataflow  # pylint: disable=g-import-not-at-top
  outcome = dataflow.outcome(options, False)
  result = parallel.run(plan, options)
  if outcome is not dataflow.Outcome.WAIT:
    if outcome is dataflow.Outcome.DRY_RUN:
      parallel.remove_build(plan.build_dir)
    return "\n".join(dataflow.describe(outcome, options, result))
  result.wait_until_finish()
  return build.built_on_beam(plan)


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(prog="python -m pipelines.index",
                                   description=__doc__.splitlines()[0])
  parser.add_argument("output_dirs", nargs="+", metavar="OUTPUT_DIR")
  parser.add_argument("--index_dir", default=None)
  parser.add_argument("--memory_budget", default=None, metavar="SIZE",
                      help="the most memory the index may take, such as 2GB "
                      "or 512MiB (default: half of this machine's memory)")
  parser.add_argument("--duplicates", type=float, default=None,
                      metavar="THRESHOLD",
                      help="write duplicates.parquet: groups of images "
                      "linked by cosine >= THRESHOLD, each with its "
                      "representative")
  parser.add_argument("--parallel", action="store_true",
                      help="build an IVF-PQ index as a Beam job; Beam's "
                      "flags (--runner, --project, ...) go to it")
  args, beam_args = parser.parse_known_args(argv)
  if beam_args and not args.parallel:
    parser.error(f"unrecognized arguments: {' '.join(beam_args)} (Beam's "
                 "flags need --parallel)")
  from transforms.core import flags  # pylint: disable=g-import-not-at-top
  from transforms.index import build  # pylint: disable=g-import-not-at-top
  from transforms.index import duplicates  # pylint: disable=g-import-not-at-top
  if args.duplicates is not None and not -1 <= args.duplicates <= 1:
    print(f"error: --duplicates: expected a cosine in [-1, 1], found "
          f"{args.duplicates}", file=sys.stderr)
    return 2
  from transforms.index import choice  # pylint: disable=g-import-not-at-top
  budget = None
  if args.memory_budget is not None:
    try:
      budget = choice.parse_size(args.memory_budget)
    except ValueError as e:
      print(f"error: --memory_budget: {e}", file=sys.stderr)
      return 2
  import contextlib  # pylint: disable=g-import-not-at-top
  from pipelines.cli import quiet  # pylint: disable=g-import-not-at-top
  options = None
  if args.parallel:
    quiet.configure(False, tensorflow=False)
  from transforms.job import dataflow  # pylint: disable=g-import-not-at-top
  on_beam = None
  try:
    if args.parallel:
      from transforms.job import options as options_lib  # pylint: disable=g-import-not-at-top
      options = options_lib.runner_options(beam_args)
      target = args.index_dir or build.default_index_dir(args.output_dirs[0])
      if (dataflow.is_dataflow(options) and "://" not in target and
          dataflow.outcome(options, False) is dataflow.Outcome.WAIT):
        raise flags.ConfigError(
            "--runner DataflowRunner: expected an index folder its workers "
            f"can write (gs://...), found the local path {target!r}")
      on_beam = functools.partial(_run_on_beam, options)
    # Beam's staging and workers print C++ and sdist noise, as for embed.
    with (quiet.stderr_filtered() if args.parallel
          else contextlib.nullcontext()):
      path, done = build.build_index(args.output_dirs, args.index_dir,
                                     budget, on_beam)
  except (flags.ConfigError, FileNotFoundError, ValueError) as e:
    print(f"error: {e}", file=sys.stderr)
    return 2
  print(f"index {done}")
  if options is not None and dataflow.outcome(
      options, False) is not dataflow.Outcome.WAIT:
    return 0   # a template or a dry run: nothing is built yet
  if args.duplicates is not None:
    table, groups, images = duplicates.write_duplicates(path,
                                                         args.duplicates)
    print(f"duplicates: {groups} groups, {images} images in them (cosine >= "
          f"{args.duplicates}) -> {table}")
  print(path)
  return 0


if __name__ == "__main__":
  sys.exit(main())
