"""The job: options, pre-run plan, pipeline wiring and summary."""
