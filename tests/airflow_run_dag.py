"""Runs the example DAG once with ``dag.test()``; executed by the Airflow
environment's Python (``.venv-airflow``), never imported by pytest.

    airflow_run_dag.py DAG_FILE LOGICAL_DATE RUN_CONF_JSON

Prints one JSON line: the run's state and each task instance's state.
"""
from __future__ import annotations

import importlib.util
import json
import sys

import pendulum


def main() -> int:
  dag_file, logical_date, run_conf = sys.argv[1], sys.argv[2], sys.argv[3]
  spec = importlib.util.spec_from_file_location("example_dag", dag_file)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  dag = module.dag
  run = dag.test(logical_date=pendulum.parse(logical_date),
                 run_conf=json.loads(run_conf))
  tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
  print("RESULT " + json.dumps({"state": str(run.state), "tasks": tasks}))
  return 0


if __name__ == "__main__":
  sys.exit(main())
