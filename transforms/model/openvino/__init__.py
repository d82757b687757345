"""The OpenVINO engine's own machinery: post-training int8 quantization
(``quantization``), calibrated on the job's own images."""
