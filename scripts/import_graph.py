"""Prints the project's import graph: circles, imports against the data's
path, and the biggest modules.

    python scripts/import_graph.py

Reads the source with ``ast`` (imports nothing), so it runs before the
virtual environment exists. ``tests/test_structure.py`` asserts on the same
facts.
"""
from __future__ import annotations

import ast
import os
import sys
from typing import Dict, List, Set, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = tuple(p for p in ("pipelines", "transforms", "benchmarks", "report",
                               "sample_models")
                 if os.path.isdir(os.path.join(ROOT, p)))
# The data's path through transforms/: a stage may import itself, core and
# stages to its left, never one to its right.
STAGE_ORDER = ("core", "read", "fetch", "decode", "model", "write", "index",
               "report", "job")


def modules() -> Dict[str, str]:
  """Dotted module name -> file path for every project module."""
  found = {}
  for package in PACKAGES:
    for folder, _, files in os.walk(os.path.join(ROOT, package)):
      for name in files:
        if name.endswith(".py"):
          path = os.path.join(folder, name)
          dotted = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
          found[dotted.removesuffix(".__init__")] = path
  return found


def imports_of(path: str, known: Set[str]) -> Set[str]:
  """Project modules that ``path`` imports (at any depth of the file)."""
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  names: Set[str] = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      names.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module:
      names.add(node.module)
      names.update(f"{node.module}.{alias.name}" for alias in node.names)
  return {n for n in names if n in known}


def graph() -> Dict[str, Set[str]]:
  known = modules()
  return {m: imports_of(p, set(known)) - {m} for m, p in known.items()}


def cycles(edges: Dict[str, Set[str]]) -> List[List[str]]:
  """Strongly connected components with more than one module (Tarjan)."""
  index: Dict[str, int] = {}
  low: Dict[str, int] = {}
  stack: List[str] = []
  on_stack: Set[str] = set()
  found: List[List[str]] = []
  sys.setrecursionlimit(10000)

  def visit(node: str) -> None:
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)
    for nxt in edges.get(node, ()):
      if nxt not in index:
        visit(nxt)
        low[node] = min(low[node], low[nxt])
      elif nxt in on_stack:
        low[node] = min(low[node], index[nxt])
    if low[node] == index[node]:
      component = []
      while True:
        top = stack.pop()
        on_stack.discard(top)
        component.append(top)
        if top == node:
          break
      if len(component) > 1:
        found.append(sorted(component))

  for node in sorted(edges):
    if node not in index:
      visit(node)
  return found


def stage_of(module: str) -> str:
  parts = module.split(".")
  return parts[1] if parts[0] == "transforms" and len(parts) > 2 else ""


def against_the_path(edges: Dict[str, Set[str]]) -> List[Tuple[str, str]]:
  """(importer, imported) pairs inside transforms/ that go upstream."""
  bad = []
  for module, targets in sorted(edges.items()):
    here = stage_of(module)
    if here not in STAGE_ORDER:
      continue
    for target in sorted(targets):
      there = stage_of(target)
      if there in STAGE_ORDER and (STAGE_ORDER.index(there) >
                                   STAGE_ORDER.index(here)):
        bad.append((module, target))
  return bad


def biggest(count: int = 8) -> List[Tuple[int, str]]:
  sizes = []
  for module, path in modules().items():
    with open(path) as f:
      sizes.append((sum(1 for _ in f), module))
  return sorted(sizes, reverse=True)[:count]


def main() -> int:
  edges = graph()
  print(f"{len(edges)} modules, "
        f"{sum(len(t) for t in edges.values())} imports between them")
  found = cycles(edges)
  print(f"circles: {len(found)}")
  for component in found:
    print("  " + " <-> ".join(component))
  upstream = against_the_path(edges)
  print(f"imports against the data's path ({' -> '.join(STAGE_ORDER)}): "
        f"{len(upstream)}")
  for importer, imported in upstream:
    print(f"  {importer} -> {imported}")
  print("biggest modules (lines):")
  for lines, module in biggest():
    print(f"  {lines:5d}  {module}")
  return 0


if __name__ == "__main__":
  sys.exit(main())
