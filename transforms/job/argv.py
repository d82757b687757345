"""The command line as given: YAML expansion and the checks Beam skips.

Beam's ``PipelineOptions`` drops arguments it cannot parse (with a warning
that is hidden by default) and keeps the last of a repeated flag, so a
misspelled ``--bacth_size 8`` would run with the default and exit 0. Here
every argument must be a flag of this tool or of some Beam options class; a
flag that takes one value may be given once; ``--input`` (and Beam's list
flags, such as ``--labels`` and ``--experiments``) add up.
"""
from __future__ import annotations

import argparse
import difflib
from typing import Dict, List, Optional, Sequence

import yaml
from apache_beam.options import pipeline_options

from transforms.core import flags

# Flags parsed by plain "store" keep only their last value; every other
# action that takes values (append, extend, Beam's comma-separated lists and
# dict unions) adds up.
_SINGLE_VALUE_ACTION = argparse._StoreAction  # pylint: disable=protected-access


def _adds_up(action: Optional[argparse.Action]) -> bool:
  return action is not None and action.nargs != 0 and not isinstance(
      action, _SINGLE_VALUE_ACTION)


def all_options_parser() -> argparse.ArgumentParser:
  """A parser with every flag of every PipelineOptions class loaded now
  (Beam's own and ours), built the way Beam builds it."""
  parser = pipeline_options._BeamArgumentParser(allow_abbrev=False)  # pylint: disable=protected-access
  classes: Dict[str, type] = {}
  for cls in pipeline_options.PipelineOptions.__subclasses__():
    classes.setdefault(str(cls), cls)
  for cls in classes.values():
    cls._add_argparse_args(parser)  # pylint: disable=protected-access
  return parser


def _flag_actions(parser: argparse.ArgumentParser
                  ) -> Dict[str, argparse.Action]:
  """Flag -> its action; a flag that some class declares as adding up
  (several Beam classes declare ``--experiments``) keeps that action."""
  actions: Dict[str, argparse.Action] = {}
  for action in parser._actions:  # pylint: disable=protected-access
    for option in action.option_strings:
      if option.startswith("--") and not _adds_up(actions.get(option)):
        actions[option] = action
  return actions


def _flag_name(arg: str) -> str:
  return arg.split("=", 1)[0]


def check_argv(argv: Sequence[str],
               parser: argparse.ArgumentParser) -> None:
  """Rejects unknown arguments and repeated single-value flags.

  Raises:
    flags.ConfigError: naming the argument (and the closest known flag).
  """
  actions = _flag_actions(parser)
  _, unknown = parser.parse_known_args(list(argv))
  if unknown:
    first = next((a for a in unknown if a.startswith("-")), unknown[0])
    if not first.startswith("-"):
      raise flags.ConfigError(
          f"unexpected argument {first!r}: expected --flag value pairs (a "
          "flag that takes several values, like --input, lists them after "
          "one flag)")
    name = _flag_name(first)
    close = difflib.get_close_matches(name, list(actions), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    raise flags.ConfigError(
        f"unknown flag {name}: not a flag of this tool or of Beam{hint} "
        "(see --help)")
  seen: Dict[str, int] = {}
  for arg in argv:
    name = _flag_name(arg)
    if name in actions:
      seen[name] = seen.get(name, 0) + 1
  for name, count in seen.items():
    action = actions[name]
    if count > 1 and isinstance(action, _SINGLE_VALUE_ACTION):
      raise flags.ConfigError(
          f"{name} was given {count} times: expected it once (it takes one "
          "value; the last would silently win)")


def yaml_to_argv(path: str, parser: argparse.ArgumentParser) -> List[str]:
  """A YAML mapping of flag names (without ``--``) to values, as argv.

  Lists become repeated flags for flags that add up (``input``, Beam's
  ``labels``), else one comma-separated value.
  """
  try:
    with open(path, encoding="utf-8") as f:
      values = yaml.safe_load(f) or {}
  except OSError as e:
    raise flags.ConfigError(f"--config: cannot read {path!r}: {e}") from e
  if not isinstance(values, dict):
    raise flags.ConfigError(
        f"--config: expected a mapping of flag names to values in {path!r}, "
        f"found {type(values).__name__}")
  actions = _flag_actions(parser)
  argv: List[str] = []
  for key, value in values.items():
    flag = f"--{key}"
    if isinstance(value, bool):
      if value:
        argv.append(flag)
    elif isinstance(value, list):
      if _adds_up(actions.get(flag)):
        for item in value:
          argv += [flag, str(item)]
      else:
        argv += [flag, ",".join(str(v) for v in value)]
    elif value is not None:
      argv += [flag, str(value)]
  return argv


def expand_config_file(argv: Sequence[str]) -> List[str]:
  """Checks argv and puts the YAML file's flags before it.

  A flag on the command line replaces the file's value (also for flags that
  add up: ``--input`` on the command line replaces the file's inputs).

  Raises:
    flags.ConfigError: an unknown or repeated flag, in the file or on the
      command line.
  """
  parser = all_options_parser()
  argv = list(argv)
  check_argv(argv, parser)
  pre = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
  pre.add_argument("--config")
  known, _ = pre.parse_known_args(argv)
  if not known.config:
    return argv
  from_file = yaml_to_argv(known.config, parser)
  try:
    check_argv(from_file, parser)
  except flags.ConfigError as e:
    raise flags.ConfigError(f"--config {known.config}: {e}") from None
  given = {_flag_name(a) for a in argv if a.startswith("--")}
  kept: List[str] = []
  skipping = False
  for arg in from_file:
    if arg.startswith("--"):
      skipping = _flag_name(arg) in given
    if not skipping:
      kept.append(arg)
  return kept + argv
