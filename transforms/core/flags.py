"""What every stage's settings need to parse flags: the error type and the
value parsers. Each stage declares its own flags in its ``settings`` module.
"""
from __future__ import annotations

from typing import Optional, Sequence, Tuple


class ConfigError(ValueError):
  """A bad flag or config value; the message names expected and found."""


def csv_values(value: Optional[str]) -> Tuple[str, ...]:
  """``"a, b,,c"`` -> ``("a", "b", "c")``."""
  return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def choice(flag: str, value: str, choices: Sequence[str]) -> str:
  if value not in choices:
    raise ConfigError(f"--{flag}: expected one of {', '.join(choices)}, "
                      f"found {value!r}")
  return value


def positive(flag: str, value: int) -> int:
  if value < 1:
    raise ConfigError(f"--{flag}: expected a positive integer, found {value}")
  return value


def parse_image_size(value: Optional[str]) -> Optional[Tuple[int, int]]:
  """``"224,224"``, ``"224x160"`` or ``"224"`` -> (height, width)."""
  if value is None or value == "":
    return None
  parts = [p.strip() for p in str(value).replace("x", ",").split(",")]
  try:
    dims = [int(p) for p in parts]
  except ValueError:
    dims = []
  if len(dims) == 1:
    dims = dims * 2
  if len(dims) != 2 or min(dims) <= 0:
    raise ConfigError(f"--image_size: expected H,W (positive integers, e.g. "
                      f"224,224), found {value!r}")
  return dims[0], dims[1]


def parse_bool(value: str) -> bool:
  """``true``/``false`` (any case), ``1``/``0``, ``yes``/``no``: a switch's
  value where a launcher can only pass ``--name=value`` (Flex Templates)."""
  lowered = str(value).strip().lower()
  if lowered in ("true", "1", "yes"):
    return True
  if lowered in ("false", "0", "no"):
    return False
  raise ValueError(f"expected true or false, found {value!r}")
