# Custom Dataflow worker (SDK harness) image for hub-image-beam.
#
#   docker build -f docker/worker.Dockerfile -t REGION-docker.pkg.dev/PROJECT/REPO/hub-image-beam-worker:TAG .
#   python -m pipelines.embed ... --runner DataflowRunner \
#     --sdk_container_image REGION-docker.pkg.dev/PROJECT/REPO/hub-image-beam-worker:TAG
#
# The base must be the launcher's Beam version (tests/test_containers.py
# checks that this line and constraints.txt agree).
FROM apache/beam_python3.11_sdk:2.77.0

WORKDIR /opt/hub-image-beam
# Only what the worker path needs; no demo or test extras.
COPY setup.py constraints.txt README.md ./
COPY pipelines ./pipelines
COPY transforms ./transforms
RUN pip install --no-cache-dir -c constraints.txt .

# Optional: bake a SavedModel into the image (then --model /opt/models/default)
# and a pre-filled TF Hub cache for TF Hub handles (TF Hub reads it offline):
#   --build-arg MODEL_SRC=path/in/context --build-arg TFHUB_CACHE_SRC=path/in/context
ARG MODEL_SRC=docker/baked
ARG TFHUB_CACHE_SRC=docker/baked
COPY ${MODEL_SRC} /opt/models/default
COPY ${TFHUB_CACHE_SRC} /opt/tfhub_cache
ENV TFHUB_CACHE_DIR=/opt/tfhub_cache

# Several SDK processes share one GPU: let each grow its allocation instead of
# mapping all memory at start (see transforms/model/devices.py).
ENV TF_FORCE_GPU_ALLOW_GROWTH=true

# Beam's boot entrypoint (/opt/apache/beam/boot) is inherited unchanged.
