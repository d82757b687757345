"""TF Hub image models on Apache Beam, as a library and as the stages of
``python -m pipelines.embed``.

A user's own pipeline starts at :mod:`transforms.api` (``ReadImages``,
``InferImages``, ``WriteResults``); the command is built from the same
three transforms (``api.build_command``). Below them, one folder per stage,
read top-down in the data's order. A stage imports ``core`` and the stages
above it, never one below it (``tests/test_structure.py``).

    api.py    the public transforms, their keyword arguments (the command's
              flags) and output types
    core/     words every stage shares: element types (elements), failure
              records and reason codes (failures), counters and live counts
              (counters, live_counts), work a batch ahead in threads, in
              the input's window (ahead), task names (tasks), class-name
              files (labels), flag parsing (flags), escaped file names
              (file_names), URLs (urls), credentials and the GCS emulator
              hook (credentials, storage_emulator)
    read/     inputs to where their bytes are: listing globs (listing),
              stored files (storage), loose files (files), TFRecords
              (tfrecord), manifests (manifest), WebDataset tars
              (webdataset, tar_samples), Parquet with images
              (parquet_images), URL lists (url_list, text_ranges), new
              files as they land (watch), the picker (source), listing in
              slices on the local runner (slices), the done-key anti-join
              (keep_new), the launch check of the inputs (inputs_check)
    fetch/    http(s) URLs to bytes: the client (client), refused addresses
              (addresses), robots.txt and opt-out headers (robots,
              opt_out), retries and limits (retries, limits), the DoFn
              (dofn)
    decode/   bytes to model pixels: decode policy (image), resize modes
              (resize), a batch read and decoded (batch), the DoFn (dofn)
    model/    the TF Hub model: its description (description), handles and
              local copies of remote models (handles, local_copy), the
              contract rules (contract), plan-time resolution (resolve),
              the engine and precision choice (engine_choice,
              faithfulness, precision, precision_choice, gate), Beam's
              ModelHandler (handler), the launcher-to-worker hand-off
              (handoff), process policies (process_policy, devices);
              tensorflow/ and openvino/ (with int8 quantization) engines
    write/    rows to files: result columns declared once (columns), top-k
              (top_k), row building (rows, dofn), the Example codec
              (examples), committed parts (parts), windows of a streaming
              job (windowed), Beam's sinks (sinks); at launch the row
              layout (layout), earlier results (earlier_results) and the
              output folder (output_dir, output_files)
    index/    search over results: vectors read from results (vectors),
              the index choice and tuning under a memory budget (choice,
              tuning), builds in one process or on Beam (build, parallel),
              what made an index (recipe), storage (store), queries
              (query, batch_search), near-duplicates (duplicates)
    report/   a finished run read back, as HTML pages
    job/      the whole command: options and JobConfig (options), keyword
              arguments read as flags (keywords), the plan (plan), where
              the inference step runs (placement), the
              int8 sample (image_sample), Dataflow launch checks
              (dataflow), provenance, the run record and the summary

Each stage folder has a ``settings`` module: its frozen settings dataclass
and its flags. Only that stage reads them.
"""
