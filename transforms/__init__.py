"""The job's transforms, grouped by stage; read top-down, the data's path.

    core/     words every stage shares: element types (elements), failure
              records and reason codes (failures), counters, task names
              (tasks), flag parsing (flags)
    read/     inputs to encoded bytes: file globs (files), TFRecords
              (tfrecord), manifests (manifest), the picker (source)
    decode/   bytes to model pixels: decode policy (image), resize modes
              (resize), the decode DoFn (dofn)
    model/    the TF Hub model: loading and calling (loading), the contract
              rules (contract), the inspector's report (report), Beam's
              ModelHandler (handler), the launcher-to-worker hand-off
              (handoff), TensorFlow without its eager Keras (tf_import)
    write/    outputs to files: result columns declared once (columns), row
              building (rows), tf.train.Example encoding (examples), sinks
              (sinks), the row DoFn (dofn)
    job/      the whole run: options and JobConfig (options), pre-run checks
              (plan), wiring (pipeline), end-of-run summary (summary), quiet
              start-up (quiet), exit without teardown (process_exit)

Each stage folder has a ``settings`` module: its frozen settings dataclass
and its flags. Only that stage reads them.
"""
