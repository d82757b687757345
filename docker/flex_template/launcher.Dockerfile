# Dataflow Flex Template launcher for hub-image-beam.
#
#   docker build -f docker/flex_template/launcher.Dockerfile -t IMAGE .
#   gcloud dataflow flex-template build gs://BUCKET/templates/hub-image-beam.json \
#     --image IMAGE --sdk-language PYTHON \
#     --metadata-file docker/flex_template/metadata.json
#   gcloud dataflow flex-template run "embed-$(date +%Y%m%d)" \
#     --template-file-gcs-location gs://BUCKET/templates/hub-image-beam.json \
#     --region REGION --parameters model=gs://...,input=gs://...,output=gs://...
FROM gcr.io/dataflow-templates-base/python311-template-launcher-base

ARG WORKDIR=/template
WORKDIR ${WORKDIR}
COPY setup.py constraints.txt README.md ./
COPY pipelines ./pipelines
COPY transforms ./transforms
RUN pip install --no-cache-dir -c constraints.txt .

# The launcher runs this file with the template's parameters as flags; the
# workers install the same package from setup.py (or use
# --sdk_container_image with docker/worker.Dockerfile's image).
ENV FLEX_TEMPLATE_PYTHON_PY_FILE=${WORKDIR}/pipelines/embed.py
ENV FLEX_TEMPLATE_PYTHON_SETUP_FILE=${WORKDIR}/setup.py
# A launcher must submit and return, not wait for the job.
ENV HUB_IMAGE_BEAM_NO_WAIT=1
