"""Read stage: inputs (file globs, TFRecords, manifests) to encoded bytes."""
