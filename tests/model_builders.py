"""Real, tiny TF SavedModels for tests, built the ways real TF Hub models are.

Each builder writes a SavedModel directory and returns its path. The models
are deterministic functions of the image (per-channel means through a fixed
linear layer), so tests can compute the expected output by hand.
"""
from __future__ import annotations

import os
from typing import Optional, Tuple

import numpy as np
import tensorflow as tf

NUM_OUTPUTS = 6


def head_weights(num_outputs: int = NUM_OUTPUTS) -> np.ndarray:
  """The fixed [3 * 3, num_outputs] head every test model shares."""
  rng = np.random.default_rng(42)
  return rng.normal(size=(9, num_outputs)).astype(np.float32)


def reference_features(images: np.ndarray,
                       num_outputs: int = NUM_OUTPUTS) -> np.ndarray:
  """numpy version of the test models: [B, H, W, 3] -> [B, num_outputs]."""
  images = images.astype(np.float32)
  pooled = np.concatenate([images.mean(axis=(1, 2)),
                           images.max(axis=(1, 2)),
                           images.min(axis=(1, 2))], axis=1)
  return pooled @ head_weights(num_outputs)


def _features(images, weights):
  pooled = tf.concat([tf.reduce_mean(images, axis=[1, 2]),
                      tf.reduce_max(images, axis=[1, 2]),
                      tf.reduce_min(images, axis=[1, 2])], axis=1)
  return tf.matmul(pooled, weights)


class _Model(tf.Module):

  def __init__(self, num_outputs):
    super().__init__()
    self.head = tf.Variable(head_weights(num_outputs), name="head")


def save_simple(path: str, size: Optional[Tuple[int, int]] = (32, 32),
                num_outputs: int = NUM_OUTPUTS) -> str:
  """TF2 ``obj(images)``; ``size=None`` gives [None, None, None, 3]."""
  model = _Model(num_outputs)
  height, width = size if size else (None, None)
  spec = tf.TensorSpec([None, height, width, 3], tf.float32, name="images")
  model.__call__ = tf.function(lambda images: _features(images, model.head),
                               input_signature=[spec])
  tf.saved_model.save(model, path)
  return path


def save_with_training(path: str, size=(32, 32),
                       num_outputs: int = NUM_OUTPUTS) -> str:
  """TF2 like real TF Hub models: ``__call__(inputs, training=False)``.

  Traced for training=True (dropout on the output: random) and False, and
  for two batch shapes, so the object has several concrete functions.
  """
  model = _Model(num_outputs)

  @tf.function
  def call(inputs, training=False):
    features = _features(inputs, model.head)
    if training:
      features = tf.nn.dropout(features, rate=0.5)
    return features

  model.__call__ = call
  height, width = size
  for batch in (None, 4):
    spec = tf.TensorSpec([batch, height, width, 3], tf.float32)
    for training in (True, False):
      call.get_concrete_function(spec, training=training)
  tf.saved_model.save(model, path)
  return path


def save_raising_on_white(path: str, size=(16, 16)) -> str:
  """A model that fails a batch holding an all-white image (1.0 everywhere).

  Stands in for a model that chokes on some inputs; the pipeline must fail
  only that image.
  """
  model = _Model(NUM_OUTPUTS)
  spec = tf.TensorSpec([None, size[0], size[1], 3], tf.float32)

  def call(images):
    darkest = tf.reduce_min(images, axis=[1, 2, 3])
    check = tf.debugging.assert_less(darkest, 1.0,
                                     message="all-white image")
    with tf.control_dependencies([check]):
      return _features(images, model.head)

  model.__call__ = tf.function(call, input_signature=[spec])
  tf.saved_model.save(model, path)
  return path


def save_broken(path: str, kind: str, size=(32, 32)) -> str:
  """Models that break one rule of the contract.

  kind:
    rank3_output: returns [batch, 2, N].
    uint8_input: takes uint8 images.
    fixed_batch: input [1, h, w, 3].
    dropout: always applies dropout, even in inference mode.
  """
  model = _Model(NUM_OUTPUTS)
  height, width = size
  if kind == "rank3_output":
    spec = tf.TensorSpec([None, height, width, 3], tf.float32)
    fn = lambda x: tf.stack([_features(x, model.head)] * 2, axis=1)
  elif kind == "uint8_input":
    spec = tf.TensorSpec([None, height, width, 3], tf.uint8)
    fn = lambda x: _features(tf.cast(x, tf.float32) / 255.0, model.head)
  elif kind == "fixed_batch":
    spec = tf.TensorSpec([1, height, width, 3], tf.float32)
    fn = lambda x: _features(x, model.head)
  elif kind == "dropout":
    spec = tf.TensorSpec([None, height, width, 3], tf.float32)
    fn = lambda x: tf.nn.dropout(_features(x, model.head), rate=0.5)
  else:
    raise ValueError(kind)
  model.__call__ = tf.function(fn, input_signature=[spec])
  tf.saved_model.save(model, path)
  return path


def write_labels(path: str, count: int) -> str:
  with open(path, "w", encoding="utf-8") as f:
    f.write("\n".join(f"class_{i}" for i in range(count)) + "\n")
  return path


def exists(path: str) -> bool:
  return os.path.exists(os.path.join(path, "saved_model.pb"))


# ModuleDef{format: FORMAT_V3}, the marker file of the TF1 Hub format
# (tensorflow_hub 0.16 no longer ships the proto; hub.load, and our loader
# after it, only check that the file exists).
TFHUB_MODULE_PB = b"\x08\x03"
EXTRA_OUTPUT = "TestNet/pooled_2x2"
NUM_CLASSES = 4


def classifier_weights(num_outputs: int = NUM_OUTPUTS) -> np.ndarray:
  rng = np.random.default_rng(7)
  return rng.normal(size=(num_outputs, NUM_CLASSES)).astype(np.float32)


def _write_tf1_module(path: str, graph: tf.Graph, session, signatures,
                      main_op=None) -> str:
  builder = tf.compat.v1.saved_model.Builder(path)
  builder.add_meta_graph_and_variables(session, tags=[],
                                       signature_def_map=signatures,
                                       main_op=main_op)
  builder.save()
  with open(os.path.join(path, "tfhub_module.pb"), "wb") as f:
    f.write(TFHUB_MODULE_PB)
  return path


def save_tf1_hub_module(path: str, size=(32, 32),
                        with_task_signatures: bool = True) -> str:
  """A TF1 Hub format module: TF1 graph, empty tag set, tfhub_module.pb.

  Signatures: ``default`` (features), and unless ``with_task_signatures`` is
  False, ``image_feature_vector`` (features + extra output) and
  ``image_classification`` (logits [batch, 4] + extra output). The extra
  output is a 2x2 average pool of the image, [batch, 2, 2, 3].
  """
  v1 = tf.compat.v1
  graph = tf.Graph()
  with graph.as_default():
    images = v1.placeholder(tf.float32, [None, size[0], size[1], 3],
                            name="images")
    head = v1.get_variable("head", initializer=head_weights())
    classifier = v1.get_variable("classifier",
                                 initializer=classifier_weights())
    features = _features(images, head)
    logits = tf.matmul(features, classifier)
    pooled = tf.nn.avg_pool2d(images, [size[0] // 2, size[1] // 2],
                              [size[0] // 2, size[1] // 2], "VALID")
    sig = v1.saved_model.signature_def_utils.predict_signature_def
    signatures = {"default": sig({"images": images}, {"default": features})}
    if with_task_signatures:
      signatures["image_feature_vector"] = sig(
          {"images": images}, {"default": features, EXTRA_OUTPUT: pooled})
      signatures["image_classification"] = sig(
          {"images": images}, {"default": logits, EXTRA_OUTPUT: pooled})
    with v1.Session(graph=graph) as session:
      session.run(v1.global_variables_initializer())
      return _write_tf1_module(path, graph, session, signatures)


def save_tf1_from_tf2(tf2_path: str, path: str, scope: str) -> str:
  """Rebuilds a TF2 image SavedModel as a TF1 Hub format module.

  The TF2 model's variables are frozen into constants of a TF1 graph whose
  ``images`` placeholder feeds the imported network; signatures ``default``
  and ``image_classification`` return its output as ``default``.
  """
  from tensorflow.python.framework import convert_to_constants  # pylint: disable=g-import-not-at-top
  v1 = tf.compat.v1
  model = tf.saved_model.load(tf2_path)
  concrete = model.__call__.concrete_functions[0]
  spec = concrete.structured_input_signature[0][0]
  frozen = convert_to_constants.convert_variables_to_constants_v2(concrete)
  graph_def = frozen.graph.as_graph_def()
  graph = tf.Graph()
  with graph.as_default():
    images = v1.placeholder(tf.float32, spec.shape, name="images")
    (output,) = tf.import_graph_def(
        graph_def, input_map={frozen.inputs[0].name: images},
        return_elements=[frozen.outputs[0].name], name=scope)
    sig = v1.saved_model.signature_def_utils.predict_signature_def
    signatures = {name: sig({"images": images}, {"default": output})
                  for name in ("default", "image_classification")}
    with v1.Session(graph=graph) as session:
      return _write_tf1_module(path, graph, session, signatures)


def save_serving_default_only(path: str, size=(32, 32)) -> str:
  """A TF2 SavedModel without __call__, only a serving_default signature
  with input ``pixels`` and output ``embedding``."""
  model = _Model(NUM_OUTPUTS)
  spec = tf.TensorSpec([None, size[0], size[1], 3], tf.float32,
                       name="pixels")

  @tf.function(input_signature=[spec])
  def serve(pixels):
    return {"embedding": _features(pixels, model.head)}

  tf.saved_model.save(model, path, signatures={"serving_default": serve})
  return path


def save_load_counting(path: str, marker_dir: str, size=(32, 32)) -> str:
  """A TF1 Hub module whose load writes one new file into ``marker_dir``.

  Its main op (run by ``tf.saved_model.load`` every time the module is
  loaded, in whatever process) writes ``marker_dir/load-<random>``, so
  counting files counts loads across processes. Same features as
  :func:`save_simple`.
  """
  v1 = tf.compat.v1
  graph = tf.Graph()
  with graph.as_default():
    images = v1.placeholder(tf.float32, [None, size[0], size[1], 3],
                            name="images")
    head = v1.get_variable("head", initializer=head_weights())
    features = _features(images, head)
    marker = tf.io.write_file(tf.strings.join([
        marker_dir, "/load-", tf.strings.as_string(tf.random.uniform(
            [], maxval=2**62, dtype=tf.int64))]), "loaded")
    sig = v1.saved_model.signature_def_utils.predict_signature_def
    signatures = {"default": sig({"images": images}, {"default": features})}
    with v1.Session(graph=graph) as session:
      session.run(v1.global_variables_initializer())
      return _write_tf1_module(
          path, graph, session, signatures,
          main_op=tf.group(v1.tables_initializer(), marker))


def save_with_op_openvino_lacks(path: str, size=(32, 32)) -> str:
  """TF2 ``obj(images)`` whose head ends in ``tf.math.bessel_i1e``: a real
  TensorFlow op that OpenVINO 2026.4's TensorFlow frontend has no
  conversion rule for (so the engine choice must fall back)."""
  model = _Model(NUM_OUTPUTS)
  spec = tf.TensorSpec([None, size[0], size[1], 3], tf.float32, name="images")
  model.__call__ = tf.function(
      lambda images: tf.math.bessel_i1e(_features(images, model.head)),
      input_signature=[spec])
  tf.saved_model.save(model, path)
  return path


def save_outlier_classifier(path: str, size=(32, 32),
                            num_classes: int = 10) -> str:
  """A classifier that int8 cannot keep: one activation channel carries
  values ~10^4 times the others into the dense layer, so a per-tensor int8
  scale for that layer's input rounds every other channel to zero. In
  float32 (and bfloat16's 8-bit exponent) the small channels still decide
  the class.
  """
  rng = np.random.default_rng(3)
  channels = 16
  kernel = rng.normal(size=(3, 3, 3, channels)).astype(np.float32)
  scale = np.ones(channels, np.float32)
  scale[0] = 1e4
  dense = rng.normal(size=(channels, num_classes)).astype(np.float32)
  dense[0] = 1e-4 * rng.normal(size=num_classes)

  class _Outlier(tf.Module):

    def __init__(self):
      super().__init__()
      self.kernel = tf.Variable(kernel, name="kernel")
      self.scale = tf.Variable(scale, name="scale")
      self.dense = tf.Variable(dense, name="dense")

  model = _Outlier()

  def call(images):
    x = tf.nn.relu(tf.nn.conv2d(images - 0.5, model.kernel, 1, "SAME"))
    pooled = tf.reduce_mean(x, axis=[1, 2]) * model.scale
    return tf.matmul(pooled, model.dense)

  spec = tf.TensorSpec([None, size[0], size[1], 3], tf.float32,
                       name="images")
  model.__call__ = tf.function(call, input_signature=[spec])
  tf.saved_model.save(model, path)
  return path
