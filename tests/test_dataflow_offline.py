"""The job on Beam's real DataflowRunner, offline: no cloud, no credentials.

``--dataflow_endpoint http://localhost:1 --no_auth`` with local staging:
``--template_location`` writes the job JSON, ``pipeline.pb`` and the staged
``workflow.tar.gz`` without submitting; ``--dry_run=True`` builds the job
and returns. The tests read what was written.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile

import pytest
from apache_beam.portability.api import beam_runner_api_pb2

from tests import conftest
from tests import dataflow_service
from tests import image_corpus

# Every top-level step, in order: Dataflow's update and monitoring key on
# these labels, so changing one is a breaking change.
TOP_LEVEL_STEPS = ["ReadImages", "InferImages", "WriteResults"]
# Each stage's own steps, as Dataflow's UI shows them under the stage.
STAGE_STEPS = {
    "ReadImages": ["ReadInputs", "CountReadFailures"],
    "InferImages": ["DecodeImages", "RunInference", "BuildRows",
                    "CountFailedReads", "CountFailedDecodes",
                    "CountFailedInference", "CollectFailures",
                    "FailureRows"],
    "WriteResults": ["WriteOutput"]}


@pytest.fixture(scope="module")
def images(tmp_path_factory):
  folder = tmp_path_factory.mktemp("images")
  (folder / "red.png").write_bytes(image_corpus.encode(
      image_corpus.solid("RGB", (255, 0, 0)), "PNG"))
  return folder


def dataflow_flags(root):
  return ["--runner", "DataflowRunner", "--project", "test-project",
          "--region", "us-central1", "--dataflow_endpoint",
          "http://localhost:1", "--no_auth",
          "--staging_location", str(root / "staging"),
          "--temp_location", str(root / "temp"),
          "--setup_file", os.path.join(conftest.ROOT, "setup.py")]


def launch(argv, timeout=120):
  return subprocess.run(
      [sys.executable, "-m", "pipelines.embed", *argv], cwd=conftest.ROOT,
      capture_output=True, text=True, timeout=timeout, check=False,
      env=dict(os.environ, PYTHONPATH=conftest.ROOT))


def write_template(config, model, images, tmp_path, template):
  """A shipped config as is; the command line replaces its placeholders."""
  return launch(["--config", os.path.join(conftest.ROOT, "configs", config),
                 "--task", "feature_vector",
                 "--model", model, "--input", str(images / "*"),
                 "--output", str(tmp_path / "out"),
                 "--template_location", str(template),
                 "--sdk_container_image",
                 "us-docker.pkg.dev/p/r/hub-image-beam:1",
                 *dataflow_flags(tmp_path)])


def top_level_steps(pipeline_pb):
  with open(pipeline_pb, "rb") as f:
    pipeline = beam_runner_api_pb2.Pipeline.FromString(f.read())
  transforms = pipeline.components.transforms
  (root,) = pipeline.root_transform_ids
  return pipeline, [transforms[t].unique_name
                    for t in transforms[root].subtransforms]


def stage_steps(pipeline, stage):
  """The labels of one top-level stage's own steps, without its prefix."""
  transforms = pipeline.components.transforms
  (root,) = pipeline.root_transform_ids
  (found,) = [t for t in transforms[root].subtransforms
              if transforms[t].unique_name == stage]
  return [transforms[t].unique_name[len(stage) + 1:]
          for t in transforms[found].subtransforms]


def test_template_writes_job_graph_and_staged_package(simple_model, images,
                                                      tmp_path):
  template = tmp_path / "templates" / "embed.json"
  done = write_template("dataflow_gpu.yaml", simple_model, images, tmp_path,
                        template)
  assert done.returncode == 0, done.stderr
  assert f"template written: {template}" in done.stdout
  assert "Traceback" not in done.stderr and "build dependencies" not in (
      done.stderr)
  job = json.loads(template.read_text())
  env = job["environment"]
  options = env["sdkPipelineOptions"]["options"]
  assert options["model"] == simple_model and options["task"] == (
      "feature_vector")
  assert options["machine_type"] == "n1-standard-8"
  assert (options["model_copies"], options["batch_size"]) == (1, 64)
  assert env["serviceOptions"] == [
      "worker_accelerator=type:nvidia-tesla-t4;count:1;install-nvidia-driver"]
  assert "use_runner_v2" in env["experiments"]
  (pool,) = env["workerPools"]
  assert [c["containerImage"] for c in pool["sdkHarnessContainerImages"]] == [
      "us-docker.pkg.dev/p/r/hub-image-beam:1"]
  staged = {p["name"]: p["location"] for p in pool["packages"]}
  with tarfile.open(staged["workflow.tar.gz"]) as sdist:
    names = sdist.getnames()
  assert any(n.endswith("transforms/model/handler.py") for n in names)
  assert any(n.endswith("pipelines/embed.py") for n in names)
  pipeline, steps = top_level_steps(tmp_path / "staging" / "pipeline.pb")
  assert steps == TOP_LEVEL_STEPS
  for stage, expected in STAGE_STEPS.items():
    assert stage_steps(pipeline, stage) == expected, stage
  assert not (tmp_path / "out").exists()  # nothing ran


def test_dry_run_builds_and_returns(simple_model, images, tmp_path):
  done = launch(["--model", simple_model, "--input", str(images / "*"),
                 "--output", str(tmp_path / "out"), "--dry_run=True",
                 *dataflow_flags(tmp_path)])
  assert done.returncode == 0, done.stderr
  assert "dry run: the job was built" in done.stdout
  assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, message", [
    (["--dry_run", "False"],
     "--dry_run: expected --dry_run=True (or no flag), found 'False'"),
    (["--dataflow_service_options", "worker_accelerator=nvidia-t4"],
     "worker_accelerator: expected 'type:TYPE;count:N"),
    (["--project", ""], "expected --project"),
    (["--inference_accelerator", "type:nvidia-l4;count:1",
      "--dataflow_service_options",
      "worker_accelerator=type:nvidia-l4;count:1"],
     "Dataflow refuses the two together"),
])
def test_bad_dataflow_flags_fail_before_anything_is_staged(
    simple_model, images, tmp_path, extra, message):
  argv = ["--model", simple_model, "--input", str(images / "*"),
          "--output", str(tmp_path / "out"), *dataflow_flags(tmp_path)]
  if extra[0] in argv:
    i = argv.index(extra[0])
    del argv[i:i + 2]
  done = launch(argv + extra)
  assert done.returncode == 2, done.stderr
  assert message in done.stderr
  assert not (tmp_path / "staging").exists()


def test_missing_local_staging_folder_is_created(simple_model, images,
                                                 tmp_path):
  flags = dataflow_flags(tmp_path / "not" / "yet")
  done = launch(["--model", simple_model, "--input", str(images / "*"),
                 "--output", str(tmp_path / "out"), "--template_location",
                 str(tmp_path / "t.json"), *flags], timeout=120)
  assert done.returncode == 0, done.stderr
  assert (tmp_path / "not" / "yet" / "staging" / "pipeline.pb").exists()


def _submit_flags(tmp_path, service):
  flags = dataflow_flags(tmp_path)
  flags[flags.index("http://localhost:1")] = service.endpoint
  return flags


def test_no_wait_submits_prints_the_job_id_and_returns(simple_model, images,
                                                       tmp_path):
  with dataflow_service.FakeDataflowService() as service:
    done = launch(["--model", simple_model, "--input", str(images / "*"),
                   "--output", str(tmp_path / "out"), "--no_wait",
                   "--labels", "team=vision",
                   *_submit_flags(tmp_path, service)])
  assert done.returncode == 0, done.stderr
  # The line Airflow's Dataflow hooks parse, although Beam's logging is
  # hidden; and ours on stdout.
  assert f"Created job with id: [{service.job_id}]" in done.stderr
  assert f"submitted job: {service.job_id}" in done.stdout
  assert [(m, p.split("?")[0]) for m, p, _ in service.requests] == [
      ("POST", "/v1b3/projects/test-project/locations/us-central1/jobs")]
  job = service.requests[0][2]
  assert job["labels"] == {"team": "vision"}
  assert job["environment"]["sdkPipelineOptions"]["options"]["model"] == (
      simple_model)


def test_a_real_run_waits_and_summarizes_dataflows_metrics(simple_model,
                                                           images, tmp_path):
  counters = {"inputs": 40, "results": 30, "failures": 10,
              "failures.decode.truncated": 10}
  with dataflow_service.FakeDataflowService(counters=counters) as service:
    done = launch(["--model", simple_model, "--input", str(images / "*"),
                   "--output", str(tmp_path / "out"),
                   "--max_failure_rate", "0.2",
                   *_submit_flags(tmp_path, service)])
  # Waited for the job (polled it) and read its metrics.
  paths = [p.split("?")[0] for _, p, _ in service.requests]
  assert any(p.endswith(f"/jobs/{service.job_id}") for p in paths)
  assert any(p.endswith("/metrics") for p in paths)
  assert "images read:       40" in done.stdout
  assert "failures:          10 (25.0%)" in done.stdout
  assert "decode.truncated" in done.stdout
  assert done.returncode == 3, done.stderr


def _environment_hints(pipeline, transform_id):
  transform = pipeline.components.transforms[transform_id]
  if not transform.environment_id:
    return {}
  return dict(pipeline.components.environments[
      transform.environment_id].resource_hints)


def _descendants(pipeline, transform_id):
  transforms = pipeline.components.transforms
  found = [transform_id]
  for child in transforms[transform_id].subtransforms:
    found += _descendants(pipeline, child)
  return found


def test_right_fitting_puts_the_gpu_on_inference_only(simple_model, images,
                                                      tmp_path):
  template = tmp_path / "templates" / "rightfit.json"
  done = write_template("dataflow_gpu_rightfit.yaml", simple_model, images,
                        tmp_path, template)
  assert done.returncode == 0, done.stderr
  env = json.loads(template.read_text())["environment"]
  # GPU batches of 256, fixed: they are formed before the shuffle.
  assert env["sdkPipelineOptions"]["options"]["batch_size"] == 256
  # No GPU on every worker: the service option is absent.
  assert not any("worker_accelerator" in o
                 for o in env.get("serviceOptions", []))
  pipeline, _ = top_level_steps(tmp_path / "staging" / "pipeline.pb")
  steps = stage_steps(pipeline, "InferImages")
  # Decode and inference are separated by the shuffle.
  assert steps[steps.index("DecodeImages") + 1] == "ShuffleToInference"
  assert steps[steps.index("ShuffleToInference") + 1] == "RunInference"
  transforms = pipeline.components.transforms
  by_name = {transforms[t].unique_name: t for t in transforms}
  accelerator = "beam:resources:accelerator:v1"
  hinted = {transforms[t].unique_name
            for t in transforms if accelerator in _environment_hints(
                pipeline, t)}
  inference = set(transforms[t].unique_name
                  for t in _descendants(pipeline, by_name["InferImages/RunInference"]))
  # The hint is on the inference step (and what it is made of), on nothing
  # upstream or downstream.
  assert hinted and hinted <= inference, sorted(hinted - inference)[:5]
  hints = _environment_hints(pipeline, next(
      t for t in transforms if transforms[t].unique_name in hinted))
  assert hints[accelerator] == (
      b"type:nvidia-l4;count:1;install-nvidia-driver")
  assert hints["beam:resources:min_ram_bytes:v1"] == b"16000000000"
  for name in ("ReadImages/ReadInputs", "InferImages/DecodeImages",
               "InferImages/ShuffleToInference", "InferImages/BuildRows",
               "WriteResults/WriteOutput"):
    for t in _descendants(pipeline, by_name[name]):
      assert accelerator not in _environment_hints(pipeline, t), name


def test_watch_builds_a_streaming_job_written_per_window(simple_model,
                                                          tmp_path):
  # A folder with no file yet: a watching job starts before files land.
  (tmp_path / "landing").mkdir()
  template = tmp_path / "watch.json"
  done = launch(["--model", simple_model,
                 "--input", str(tmp_path / "landing" / "*.jpg"),
                 "--output", str(tmp_path / "out"), "--watch", "30",
                 "--window_seconds", "120", "--template_location",
                 str(template), *dataflow_flags(tmp_path)])
  assert done.returncode == 0, done.stderr
  options = json.loads(template.read_text())["environment"][
      "sdkPipelineOptions"]["options"]
  assert options["streaming"] is True
  pipeline, steps = top_level_steps(tmp_path / "staging" / "pipeline.pb")
  assert steps == TOP_LEVEL_STEPS
  transforms = pipeline.components.transforms
  names = {transforms[t].unique_name for t in transforms}
  # New files from Beam's MatchContinuously, in windows; the batch job's
  # listing and committed parts are not in the graph.
  assert "ReadImages/ReadInputs/Source/Watch0" in names
  assert "ReadImages/ReadInputs/Source/Windows" in names
  assert stage_steps(pipeline, "WriteResults") == ["WriteWindows"]
  assert not any(n.startswith("WriteResults/WriteOutput") for n in names)
  assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("extra, message", [
    ([], "--watch: expected a streaming runner (DataflowRunner, "
     "TestDataflowRunner, PrismRunner), found the local runner"),
    (["--input_format", "tfrecord", "--runner", "DataflowRunner"],
     "--watch: expected --input_format files (new files land one by one), "
     "found tfrecord"),
    (["--runner", "DataflowRunner", "--resume"],
     "--watch with --resume: expected one of them"),
    (["--runner", "DataflowRunner", "--window_seconds", "0"],
     "--watch / --window_seconds: expected positive seconds, found 30.0 / "
     "0.0"),
])
def test_watch_refuses_what_it_cannot_do(simple_model, tmp_path, extra,
                                         message):
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  from transforms.core import flags  # pylint: disable=g-import-not-at-top
  from transforms.job import options as options_lib  # pylint: disable=g-import-not-at-top
  argv = ["--model", simple_model, "--input", str(tmp_path / "*.jpg"),
          "--output", str(tmp_path / "out"), "--watch", "30", *extra]
  if "DataflowRunner" in extra:
    argv += dataflow_flags(tmp_path)[2:]
  with pytest.raises(flags.ConfigError) as raised:
    options_lib.build_config(PipelineOptions(argv))
  assert message in str(raised.value)
