"""The spec's shared words: the two tasks and the main output's name.

Every stage speaks of these (the loader picks a signature by task, the row
builder picks columns by task, the options validate it), so they live here
rather than in the TensorFlow loader.
"""
from __future__ import annotations

TASK_FEATURE_VECTOR = "feature_vector"
TASK_CLASSIFICATION = "classification"
TASKS = (TASK_FEATURE_VECTOR, TASK_CLASSIFICATION)

# The spec's output key: [batch, num_features] or [batch, num_classes].
DEFAULT_OUTPUT = "default"
