"""The run report: one self-contained HTML page from a run's outputs.

    run_outputs  read results, failures and run metadata (Parquet/TFRecord,
                 any Beam filesystem), and the deterministic sample shown
                 for large runs
    thumbnails   small embedded JPEGs of inputs, from their keys
    geometry     cosine nearest neighbours (batched) and a PCA map
    page         the HTML (everything escaped)
    build        puts them together
"""
