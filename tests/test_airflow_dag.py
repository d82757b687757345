"""The example DAG (dags/hub_image_beam_daily.py) in real Airflow 3.3.

Airflow and its Beam and Google providers live in their own environment
(``.venv-airflow``, set up by scripts/ensure_airflow_venv.sh, cached); the
DAG's ``BeamRunPythonPipelineOperator`` runs the job with this project's
Python. Each run is ``dag.test()`` on a SQLite metadata database migrated in
a temporary ``AIRFLOW_HOME``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests import conftest
from tests import image_corpus

AIRFLOW_VENV = os.path.join(conftest.ROOT, ".venv-airflow")
AIRFLOW_PYTHON = os.path.join(AIRFLOW_VENV, "bin", "python")
DAG_FILE = os.path.join(conftest.ROOT, "dags", "hub_image_beam_daily.py")
RUNNER = os.path.join(conftest.ROOT, "tests", "airflow_run_dag.py")

pytestmark = conftest.needs_shared


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory):
  subprocess.run(["bash", os.path.join(conftest.ROOT, "scripts",
                                       "ensure_airflow_venv.sh")],
                 check=True, timeout=1800)
  home = tmp_path_factory.mktemp("airflow_home")
  env = {k: v for k, v in os.environ.items()
         if not k.startswith(("AIRFLOW", "VIRTUAL_ENV", "PYTHONPATH"))}
  env.update({
      "AIRFLOW_HOME": str(home),
      "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
      "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
      "AIRFLOW__CORE__DAGS_FOLDER": os.path.dirname(DAG_FILE),
      # The job runs in the project's environment, not Airflow's.
      "HUB_IMAGE_BEAM_PYTHON": sys.executable,
  })
  subprocess.run([os.path.join(AIRFLOW_VENV, "bin", "airflow"), "db",
                  "migrate"], env=env, check=True, capture_output=True,
                 timeout=600)
  return env


def run_dag(env, logical_date, **conf):
  done = subprocess.run([AIRFLOW_PYTHON, RUNNER, DAG_FILE, logical_date,
                         json.dumps(conf)], env=env, capture_output=True,
                        text=True, timeout=900, check=False)
  lines = [l for l in done.stdout.splitlines() if l.startswith("RESULT ")]
  assert lines, done.stdout[-3000:] + done.stderr[-3000:]
  return json.loads(lines[-1][len("RESULT "):]), done.stdout + done.stderr


def _photos(*names):
  return [os.path.join(conftest.IMAGENET_DIR, n) for n in names]


def test_daily_run_classifies_refuses_a_rerun_and_overwrites(airflow_env,
                                                            tmp_path):
  conf = {"model": conftest.MOBILENET_CLS,
          "labels_file": conftest.IMAGENET_LABELS, "top_k": 3,
          "input": _photos("cat.bmp", "cat_720p.jpg", "hot_dog.jpg"),
          "output_root": str(tmp_path / "predictions")}
  state, log = run_dag(airflow_env, "2026-11-20", **conf)
  assert state == {"state": "success",
                   "tasks": {"classify_images": "success"}}, log[-3000:]
  # Airflow's job labels reach Beam as --labels; class names came from
  # --labels_file, so the two no longer collide.
  assert "--labels=airflow-version=v3-3-2" in log
  day = tmp_path / "predictions" / "2026-11-20"
  rows = {os.path.basename(r["key"]): r
          for r in conftest.read_parquet_rows(str(day))}
  assert sorted(rows) == ["cat.bmp", "cat_720p.jpg", "hot_dog.jpg"]
  for cat in ("cat.bmp", "cat_720p.jpg"):
    assert "cat" in rows[cat]["top_k_labels"][0].lower(), rows[cat]
  assert rows["hot_dog.jpg"]["top_k_labels"][0].startswith("hotdog")
  written = {p.name: p.stat().st_mtime_ns for p in day.glob("results-*")}

  # The same date again: refused (exit 2), the day's results untouched.
  state, log = run_dag(airflow_env, "2026-11-20", **conf)
  assert state["tasks"] == {"classify_images": "failed"}, log[-3000:]
  assert "already holds" in log and "--overwrite" in log
  assert {p.name: p.stat().st_mtime_ns
          for p in day.glob("results-*")} == written

  # With overwrite: replaced.
  state, log = run_dag(airflow_env, "2026-11-20", overwrite=True,
                       **{**conf, "input": _photos("cat.bmp")})
  assert state["tasks"] == {"classify_images": "success"}, log[-3000:]
  assert [os.path.basename(r["key"])
          for r in conftest.read_parquet_rows(str(day))] == ["cat.bmp"]


def test_failure_rate_above_the_limit_fails_the_task(airflow_env, tmp_path):
  folder = tmp_path / "images"
  folder.mkdir()
  (folder / "good.png").write_bytes(image_corpus.encode(
      image_corpus.solid("RGB", (200, 30, 30)), "PNG"))
  for i in range(3):
    (folder / f"broken{i}.jpg").write_bytes(b"<html>gone</html>")
  state, log = run_dag(airflow_env, "2026-11-21",
                       model=conftest.MOBILENET_V1_SMALL,
                       labels_file=conftest.IMAGENET_LABELS,
                       input=[str(folder / "*")],
                       output_root=str(tmp_path / "predictions"),
                       max_failure_rate=0.5)
  assert state["tasks"] == {"classify_images": "failed"}, log[-3000:]
  assert "failure rate 0.750 is above --max_failure_rate 0.5" in log
  # The job still wrote what it could: one result, three failures.
  day = tmp_path / "predictions" / "2026-11-21"
  assert len(conftest.read_parquet_rows(str(day))) == 1
  assert len(conftest.read_failures(str(day))) == 3


def test_dataflow_variant_is_built_with_its_config(airflow_env):
  code = (
      "import importlib.util, json, sys\n"
      "spec = importlib.util.spec_from_file_location('d', sys.argv[1])\n"
      "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
      "t = m.dag.get_task('classify_images_on_dataflow')\n"
      "print('TASK ' + json.dumps({'ids': sorted(m.dag.task_ids),\n"
      "  'runner': t.runner, 'py_options': t.py_options,\n"
      "  'py_file': t.py_file, 'options': sorted(t.pipeline_options),\n"
      "  'config': {k: v for k, v in t.dataflow_config.items()\n"
      "             if k in ('project_id', 'location', 'job_name')}}))\n")
  env = dict(airflow_env, HUB_IMAGE_BEAM_DATAFLOW_PROJECT="my-project",
             HUB_IMAGE_BEAM_DATAFLOW_REGION="europe-west4")
  done = subprocess.run([AIRFLOW_PYTHON, "-c", code, DAG_FILE], env=env,
                        capture_output=True, text=True, timeout=300,
                        check=True)
  (line,) = [l for l in done.stdout.splitlines() if l.startswith("TASK ")]
  task = json.loads(line[len("TASK "):])
  assert task["ids"] == ["classify_images", "classify_images_on_dataflow"]
  assert (task["runner"], task["py_file"], task["py_options"]) == (
      "DataflowRunner", "pipelines.embed", ["-m"])
  assert {"model", "input", "output", "temp_location",
          "setup_file"} <= set(task["options"])
  assert task["config"]["project_id"] == "my-project"
  assert task["config"]["location"] == "europe-west4"
