"""A job whose model facts and converted model are cached starts without
TensorFlow (``model/openvino/launch_facts.py``), and gets the same results
as the job that loaded the model in TensorFlow; other bytes, another key."""
from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
from apache_beam.options.pipeline_options import PipelineOptions

from tests import conftest
from transforms.job import options as options_lib
from transforms.model.openvino import launch_facts

# The job in a fresh process, then what it imported.
_CHILD = r'''
import json, sys
from pipelines import embed
status = embed.main(sys.argv[1:])
print(json.dumps({"status": status,
                  "tensorflow": "tensorflow" in sys.modules}))
'''


def _job(argv):
  done = subprocess.run([sys.executable, "-c", _CHILD] + list(argv),
                        cwd=conftest.ROOT, capture_output=True, text=True,
                        timeout=600, env=dict(os.environ,
                                              PYTHONPATH=conftest.ROOT))
  assert done.returncode == 0, done.stderr[-3000:]
  return json.loads(done.stdout.strip().splitlines()[-1]), done.stdout


def _top1(out):
  return {row["key"]: row["top_k_indices"][0]
          for row in conftest.read_parquet_rows(out)}


def _metadata(out):
  shard = sorted(glob.glob(os.path.join(out, "results-*.parquet")))[0]
  meta = pq.read_schema(shard).metadata or {}
  return {k.decode().split(".", 1)[1]: v.decode() for k, v in meta.items()}


@conftest.needs_shared
def test_a_cached_model_starts_without_tensorflow(tmp_path):
  model = str(tmp_path / "model")
  shutil.copytree(conftest.MOBILENET_V1_SMALL, model)
  cache = str(tmp_path / "ov_cache")
  base = ["--model", model, "--task", "classification", "--input",
          os.path.join(conftest.IMAGENET_DIR, "*"), "--engine", "openvino",
          "--openvino_cache", cache, "--overwrite"]
  # The first job loads the model in TensorFlow (here, in this process).
  from pipelines import embed  # pylint: disable=g-import-not-at-top
  assert embed.main(base + ["--output", str(tmp_path / "first")]) == 0
  assert len(glob.glob(os.path.join(cache, "facts-*.json"))) == 1
  second, printed = _job(base + ["--output", str(tmp_path / "second")])
  assert second == {"status": 0, "tensorflow": False}
  assert "engine:            openvino" in printed
  # The same model, the same results, the same recorded provenance.
  assert _top1(str(tmp_path / "second")) == _top1(str(tmp_path / "first"))
  assert len(_top1(str(tmp_path / "first"))) == len(conftest.photo_paths())
  meta = [_metadata(str(tmp_path / name)) for name in ("first", "second")]
  for field in ("model_digest", "engine", "precision", "image_size",
                "decode"):
    assert meta[0][field] == meta[1][field], field
  # The cached path refuses --precision auto for remote workers, as a
  # fresh load does: it would time the candidates on this CPU.
  from transforms.core import flags  # pylint: disable=g-import-not-at-top
  from transforms.job import plan  # pylint: disable=g-import-not-at-top
  remote = options_lib.build_config(PipelineOptions(
      base + ["--output", str(tmp_path / "remote"), "--precision", "auto"]))
  assert launch_facts.read(remote.model,
                           *launch_facts.key_for(remote.model)) is not None
  with pytest.raises(flags.ConfigError, match="auto times the candidates"):
    plan.plan_job(remote, workers_here=False)
  # Another model's bytes are another key: TensorFlow would load that one.
  settings = options_lib.build_config(PipelineOptions(
      base + ["--output", str(tmp_path / "x")])).model
  before = launch_facts.key_for(settings)
  os.makedirs(os.path.join(model, "assets"), exist_ok=True)
  with open(os.path.join(model, "assets", "note.txt"), "w") as f:
    f.write("one more file\n")
  after = launch_facts.key_for(settings)
  assert before is not None and after is not None
  assert before[0] != after[0] and before[1] != after[1]
  assert launch_facts.read(settings, *after) is None
  assert launch_facts.read(settings, *before) is not None
