"""Class-name files: one name per line, line i = class i.

Read by the write stage (top-k labels) and the model inspector (the label
count rule).
"""
from __future__ import annotations

from typing import Tuple


def read_labels(path: str) -> Tuple[str, ...]:
  """Reads a labels file on any Beam filesystem; trailing blank lines are
  dropped, names are stripped."""
  from apache_beam.io.filesystems import FileSystems  # pylint: disable=g-import-not-at-top
  with FileSystems.open(path) as f:
    text = f.read().decode("utf-8")
  lines = text.splitlines()
  while lines and not lines[-1].strip():
    lines.pop()
  return tuple(line.strip() for line in lines)
