"""Words every stage shares: elements, failures, counters, tasks, flags."""
