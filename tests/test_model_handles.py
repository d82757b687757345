"""Remote model handles offline: Kaggle Models (where tfhub.dev now
redirects) and tfhub.dev handles resolve from a pre-filled TFHUB_CACHE_DIR,
as on a worker image that bakes the cache in (docker/worker.Dockerfile)."""
from __future__ import annotations

import hashlib
import os

import pytest

from tests import conftest
from transforms.model import description
from transforms.model import handles

pytestmark = conftest.needs_shared

KAGGLE = ("https://www.kaggle.com/models/google/mobilenet-v2/tensorFlow2/"
          "100-224-classification/2")
TFHUB = ("https://tfhub.dev/google/imagenet/mobilenet_v2_100_224/"
         "classification/5")


@pytest.fixture
def hub_cache(tmp_path, monkeypatch):
  """A TF Hub cache holding the shared MobileNet under both handles (the
  resolver's layout: one folder per sha1 of the handle); linked, not
  copied."""
  cache = tmp_path / "tfhub_cache"
  cache.mkdir()
  for handle in (KAGGLE, TFHUB):
    name = hashlib.sha1(handle.encode("utf8")).hexdigest()
    os.symlink(conftest.MOBILENET_CLS, cache / name)
  monkeypatch.setenv("TFHUB_CACHE_DIR", str(cache))
  return cache


@pytest.mark.parametrize("handle", [KAGGLE, TFHUB])
def test_remote_handles_resolve_from_the_cache(hub_cache, handle):
  path = handles.resolve_model_path(handle)
  assert os.path.realpath(path) == os.path.realpath(conftest.MOBILENET_CLS)


def test_a_handle_missing_from_the_cache_names_it(hub_cache):
  missing = KAGGLE.replace("/2", "/3")
  with pytest.raises(description.ModelError, match="could not download "
                     "model 'https://www.kaggle.com/models/.*/3'"):
    handles.resolve_model_path(missing)


def test_a_job_runs_on_a_kaggle_handle(hub_cache, tmp_path):
  out = str(tmp_path / "out")
  conftest.run_embed([
      "--model", KAGGLE, "--task", "classification",
      "--labels_file", conftest.IMAGENET_LABELS, "--top_k", "1",
      "--input", *conftest.photo_paths(), "--output", out])
  rows = {os.path.basename(r["key"]): r
          for r in conftest.read_parquet_rows(out)}
  expected = conftest.expected_top5()
  agree = [n for n, ref in expected.items()
           if rows[n]["top_k_indices"][0] == ref["top5_index"][0]]
  assert len(agree) >= 11, sorted(agree)
  assert rows["cat.bmp"]["top_k_labels"] == ["Egyptian cat"]
