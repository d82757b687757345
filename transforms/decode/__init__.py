"""Decode stage: encoded bytes to uint8 model-sized RGB pixels."""
