"""The tree's shape, as the style guide asks for it: no import circles, and
inside ``transforms/`` imports only go down the data's path (a stage imports
``core`` and the stages before it, never one after it)."""
from __future__ import annotations

import importlib.util
import os

from tests import conftest

_spec = importlib.util.spec_from_file_location(
    "import_graph", os.path.join(conftest.ROOT, "scripts", "import_graph.py"))
import_graph = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(import_graph)  # type: ignore[union-attr]


def test_the_graph_is_read_from_the_real_tree():
  # The checks below would pass on an empty graph; make sure it is not.
  edges = import_graph.graph()
  assert "transforms.job.plan" in edges
  assert "transforms.model.resolve" in edges["transforms.job.plan"]
  assert "transforms.write.examples" in edges["transforms.write.sinks"]


def test_no_import_circles():
  assert import_graph.cycles(import_graph.graph()) == []


def test_imports_go_down_the_data_path():
  assert import_graph.against_the_path(import_graph.graph()) == []


def test_the_checks_catch_what_they_are_about():
  edges = {"transforms.read.a": {"transforms.write.b"},
           "transforms.write.b": {"transforms.read.a"}}
  assert import_graph.cycles(edges) == [["transforms.read.a",
                                         "transforms.write.b"]]
  assert import_graph.against_the_path(edges) == [("transforms.read.a",
                                                   "transforms.write.b")]


def test_only_the_layouts_two_packages_are_top_level():
  # A worker image gets what setup.py installs: nothing with a generic name
  # (report, sample_models) at the top of its site-packages.
  from setuptools._distutils import core  # pylint: disable=g-import-not-at-top
  cwd = os.getcwd()
  os.chdir(conftest.ROOT)
  try:
    dist = core.run_setup("setup.py", stop_after="init")
  finally:
    os.chdir(cwd)
  assert "transforms.report" in dist.packages
  assert "pipelines.sample_models" in dist.packages
  assert {p.split(".")[0] for p in dist.packages} == {"pipelines",
                                                      "transforms"}
  top_level = {name for name in os.listdir(conftest.ROOT)
               if os.path.isfile(os.path.join(conftest.ROOT, name,
                                              "__init__.py"))}
  assert top_level <= {"pipelines", "transforms", "tests", "benchmarks"}, (
      top_level)
