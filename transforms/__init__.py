"""The job's transforms, grouped by stage; read top-down, the data's path.
A stage imports ``core`` and the stages above it, never one below it
(``tests/test_structure.py``).

    core/     words every stage shares: element types (elements), failure
              records and reason codes (failures), counters and live counts
              (counters, live_counts), task names (tasks), class-name files
              (labels), flag parsing (flags), the GCS emulator hook
              (storage_emulator)
    read/     inputs to encoded bytes: stored files (storage), file globs
              (files), TFRecords (tfrecord), manifests (manifest), the
              picker (source), the incremental anti-join (keep_new), the
              launch check of the inputs (inputs_check)
    decode/   bytes to model pixels: decode policy (image), resize modes
              (resize), the decode DoFn (dofn)
    model/    the TF Hub model: its description (description), handles
              (handles), the contract rules (contract), plan-time
              resolution (resolve), the engine choice (engine_choice,
              faithfulness), Beam's ModelHandler (handler), the
              launcher-to-worker hand-off (handoff), process policies
              (process_policy, devices, precision); the TensorFlow engine
              (tf_savedmodel, tf_entry, tf_trace, tf_engine, tf_import) and
              the OpenVINO engine (ov_engine, ov_cache)
    write/    outputs to files: result columns declared once (columns),
              top-k (top_k), row building (rows), the Example codec
              (examples), sinks (sinks), the row DoFn (dofn); at launch the
              row layout (layout), earlier results (earlier_results) and
              clearing the output (output_dir)
    report/   a finished run read back, as an HTML page
    job/      the whole run: options and JobConfig (options), where the
              inference step runs (placement), the plan (plan), wiring
              (pipeline), Dataflow launch checks (dataflow), the run record
              and the end-of-run summary

Each stage folder has a ``settings`` module: its frozen settings dataclass
and its flags. Only that stage reads them.
"""
