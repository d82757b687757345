"""A daily Airflow task that classifies the day's images with hub-image-beam.

Runs ``python -m pipelines.embed`` through the Apache Beam provider's
``BeamRunPythonPipelineOperator`` (``py_options=["-m"]``), with the project's
own virtual environment as ``py_interpreter``: Airflow and the job cannot
share one environment (see docs/airflow.md). The run date is in the output
path, so each day writes its own folder; the job's exit status decides the
task's state (3 when failures / inputs is above ``max_failure_rate``, 2 for a
bad flag, a bad model or an output folder that already holds results).

A re-run of the same date is refused (exit 2: the day's folder already holds
results) unless the run's ``overwrite`` param is true, which replaces them.

Every setting is a DAG param, so a manual run or ``dag.test(run_conf=...)``
can change it; the defaults come from environment variables where set, for
deployments that configure the worker's environment instead.

The Dataflow variant is ``DATAFLOW_TASK`` below: the same job with
``runner="DataflowRunner"`` and a ``dataflow_config``; it is built only when
``HUB_IMAGE_BEAM_DATAFLOW_PROJECT`` is set.
"""
from __future__ import annotations

import os

import pendulum
from airflow.providers.apache.beam.operators.beam import (
    BeamRunPythonPipelineOperator)
from airflow.sdk import DAG, Param

ENV = os.environ.get

with DAG(
    dag_id="hub_image_beam_daily",
    description="Classify the day's images (TF Hub model on Apache Beam)",
    schedule="@daily",
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    render_template_as_native_obj=True,  # keep lists, floats and booleans
    params={
        "model": Param(ENV("HUB_IMAGE_BEAM_MODEL", "gs://BUCKET/models/cls"),
                       type="string"),
        "task": Param("classification",
                      enum=["classification", "feature_vector"]),
        "labels_file": Param(ENV("HUB_IMAGE_BEAM_LABELS_FILE",
                                 "gs://BUCKET/models/labels.txt"),
                             type=["string", "null"]),
        "top_k": Param(5, type="integer", minimum=1),
        "input": Param([ENV("HUB_IMAGE_BEAM_INPUT",
                            "gs://BUCKET/images/*.jpg")],
                       type="array", items={"type": "string"}),
        "output_root": Param(ENV("HUB_IMAGE_BEAM_OUTPUT_ROOT",
                                 "gs://BUCKET/predictions"), type="string"),
        "max_failure_rate": Param(0.05, type="number", minimum=0,
                                  maximum=1),
        "overwrite": Param(False, type="boolean"),
    },
    tags=["hub-image-beam"],
) as dag:
  JOB_OPTIONS = {
      "model": "{{ params.model }}",
      "task": "{{ params.task }}",
      "labels_file": "{{ params.labels_file }}",
      "top_k": "{{ params.top_k }}",
      "input": "{{ params.input }}",
      "output": "{{ params.output_root }}/{{ ds }}",
      "max_failure_rate": "{{ params.max_failure_rate }}",
      "overwrite": "{{ params.overwrite }}",
  }
  # python -m pipelines.embed in the job's own environment.
  RUN_JOB = {
      "py_file": "pipelines.embed",
      "py_options": ["-m"],
      "py_interpreter": ENV("HUB_IMAGE_BEAM_PYTHON",
                            "/opt/hub-image-beam/.venv/bin/python"),
  }
  BeamRunPythonPipelineOperator(
      task_id="classify_images",
      runner="DirectRunner",
      pipeline_options=JOB_OPTIONS,
      **RUN_JOB,
  )

  if ENV("HUB_IMAGE_BEAM_DATAFLOW_PROJECT"):
    # The same job on Dataflow; the operator waits for the job and fails the
    # task when it fails. The failure-rate check runs in the launcher once
    # the job is done (exit 3), as locally.
    DATAFLOW_TASK = BeamRunPythonPipelineOperator(
        task_id="classify_images_on_dataflow",
        runner="DataflowRunner",
        pipeline_options={
            **JOB_OPTIONS,
            "temp_location": ENV("HUB_IMAGE_BEAM_TEMP_LOCATION",
                                 "gs://BUCKET/tmp"),
            "setup_file": ENV("HUB_IMAGE_BEAM_SETUP_FILE",
                              "/opt/hub-image-beam/setup.py"),
        },
        dataflow_config={
            "job_name": "hub-image-beam-{{ ds_nodash }}",
            "project_id": ENV("HUB_IMAGE_BEAM_DATAFLOW_PROJECT"),
            "location": ENV("HUB_IMAGE_BEAM_DATAFLOW_REGION", "us-central1"),
            "wait_until_finished": True,
        },
        **RUN_JOB,
    )
