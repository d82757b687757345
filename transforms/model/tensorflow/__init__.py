"""The TensorFlow engine: SavedModel loading (``savedmodel``), entry-point
discovery (``entry``), tracing (``trace``), the runtime wrapper
(``engine``) and the lean import of TensorFlow (``lean_import``)."""
