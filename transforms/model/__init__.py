"""Model stage: loading, checking and running TF Hub image models."""
