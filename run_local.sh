#!/usr/bin/env bash
# The main job on the bundled offline default, or on your own flags.
#
#   ./run_local.sh                 # demo: classify + embed the sample photos
#   ./run_local.sh --model DIR ... # anything else goes to pipelines.embed
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure_venv.sh

if [ "$#" -gt 0 ]; then
  exec python -m pipelines.embed "$@"
fi

export HUB_IMAGE_BEAM_CACHE="$PWD/.cache/hub_image_beam"
echo "== Building the sample models (EfficientNet-Lite0, ImageNet; cached)"
python -m pipelines.sample_model --cache_dir "$HUB_IMAGE_BEAM_CACHE" \
  --photos_dir samples
echo
echo "== Classifying the sample photos (top-3, softmax)"
python -m pipelines.embed --config configs/sample_classification.yaml
echo
python -m pipelines.show_results out/classification
echo
echo "== Embedding the sample photos (1280 floats each, TFRecord)"
python -m pipelines.embed --config configs/sample_embedding.yaml
echo
echo "== Reports (open in a browser; self-contained, work offline)"
python -m pipelines.report out/classification
python -m pipelines.report out/embeddings
