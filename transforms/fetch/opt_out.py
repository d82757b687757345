"""Opt-outs a server states in its response: ``X-Robots-Tag`` directives
such as ``noai`` and ``noimageai`` (as img2dataset honours them): pure."""
from __future__ import annotations

from typing import Iterable, Optional, Sequence

DEFAULT_DIRECTIVES = ("noai", "noimageai")


def opted_out(header_values: Iterable[str], disallowed: Sequence[str],
              user_agent: str = "") -> Optional[str]:
  """The first disallowed directive the ``X-Robots-Tag`` values state for
  every robot or for ours (``robot: directive, ...``), else None."""
  wanted = {d.lower() for d in disallowed}
  ours = user_agent.split("/", 1)[0].lower()
  for value in header_values:
    text = value.strip()
    scope, sep, rest = text.partition(":")
    # "otherbot: noai" names another robot; "noai, noindex" is for all.
    if sep and " " not in scope.strip() and "," not in scope:
      if scope.strip().lower() not in ("*", ours):
        continue
      text = rest
    for directive in (d.strip().lower() for d in text.split(",")):
      if directive in wanted:
        return directive
  return None
