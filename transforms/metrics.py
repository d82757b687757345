"""Counter names shared by the DoFns that move them and the summary."""
from apache_beam.metrics import Metrics

NAMESPACE = "hub_image_beam"
INPUTS = "inputs"
DECODED = "images_decoded"
RESULTS = "results"
FAILURES = "failures"
FAILURE_PREFIX = "failures."


def counter(name: str):
  return Metrics.counter(NAMESPACE, name)


def failure_counter(stage: str, reason: str):
  return Metrics.counter(NAMESPACE, f"{FAILURE_PREFIX}{stage}.{reason}")
