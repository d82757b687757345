"""Write stage: result columns, rows, Example encoding and sinks."""
