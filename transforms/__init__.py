"""DoFns, PTransforms and the pure functions under them."""
