"""The library's keyword arguments, read as the command's flags.

``transforms.api`` takes each stage's settings as keywords named as the
flags are (``top_k=5`` for ``--top_k 5``). They are turned back into flags
and parsed by the stages' own ``add_flags`` and ``from_flags``, so the
library and the command share names, defaults, checks and messages; only
the way an error arrives differs (an exception here, exit 2 there).
"""
from __future__ import annotations

import argparse
import difflib
from typing import Any, Callable, Dict, Iterable, List, Mapping, Sequence, Tuple

from transforms.core import flags
from transforms.decode import settings as decode_settings
from transforms.fetch import settings as fetch_settings
from transforms.model import settings as model_settings
from transforms.read import settings as read_settings
from transforms.write import settings as write_settings

# Each stage's flag declarations, by stage.
_ADD_FLAGS: Dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "read": read_settings.add_flags,
    "fetch": fetch_settings.add_flags,
    "decode": decode_settings.add_flags,
    "model": model_settings.add_flags,
    "write": write_settings.add_flags,
}


def _parser(stages: Iterable[str]) -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(add_help=False, exit_on_error=False)
  for stage in stages:
    _ADD_FLAGS[stage](parser)
  return parser


def flag_names(stage: str) -> Tuple[str, ...]:
  """The names of a stage's flags, without ``--``."""
  return tuple(action.dest for action in _parser([stage])._actions)  # pylint: disable=protected-access


def _as_flags(action: argparse.Action, value: Any) -> Sequence[str]:
  """One keyword's value as the command line would give it."""
  flag = action.option_strings[0]
  if isinstance(action, argparse._StoreTrueAction):  # pylint: disable=protected-access
    return [flag] if value else []
  if isinstance(action, argparse._AppendAction):  # pylint: disable=protected-access
    values = [value] if isinstance(value, str) else list(value)
    return [f"{flag}={v}" for v in values]
  if isinstance(value, bool):
    text = "true" if value else "false"
  elif isinstance(value, (tuple, list)):
    text = ",".join(str(v) for v in value)
  else:
    text = str(value)
  return [f"{flag}={text}"]


def parse(owner: str, keywords: Mapping[str, Any], stages: Sequence[str],
          allowed: Sequence[str], elsewhere: Mapping[str, str] = {}
          ) -> argparse.Namespace:  # pylint: disable=dangerous-default-value
  """The stages' flags from ``keywords``, with every flag's default.

  Args:
    owner: the transform taking them, for messages.
    keywords: keyword -> value; None leaves the flag's default.
    stages: the stages whose flags are parsed (every one gets a value).
    allowed: the keywords ``owner`` takes.
    elsewhere: keyword -> the transform that takes it instead.

  Raises:
    flags.ConfigError: an unknown keyword (naming the closest one), or a
      value a flag's parser refuses.
  """
  parser = _parser(stages)
  actions = {a.dest: a for a in parser._actions}  # pylint: disable=protected-access
  argv: List[str] = []
  for name, value in keywords.items():
    if name not in allowed:
      if name in elsewhere:
        raise flags.ConfigError(
            f"{owner}: {name!r} is a keyword of {elsewhere[name]}, not of "
            f"{owner}")
      close = difflib.get_close_matches(name, list(allowed), n=1)
      hint = (f"; did you mean {close[0]!r}?" if close else
              f"; expected one of {', '.join(sorted(allowed))}")
      raise flags.ConfigError(f"{owner}: unknown keyword {name!r}{hint}")
    if value is not None:
      argv.extend(_as_flags(actions[name], value))
  try:
    namespace, rest = parser.parse_known_args(argv)
  except argparse.ArgumentError as e:
    raise flags.ConfigError(f"{owner}: {e}") from None
  if rest:
    raise flags.ConfigError(f"{owner}: values the flags do not take: "
                            f"{len(rest)}")
  return namespace

