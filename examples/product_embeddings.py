"""A user's own pipeline with image embeddings as one step of it.

A catalogue CSV (``product_id,title,image``; ``image`` a path, a
``gs://`` object or an http(s) URL) -> one Parquet row per product:
``product_id``, ``title``, ``embedding``. Products whose image could not
be read, fetched or decoded go to ``failures.jsonl`` with the reason; every
product comes out once, in one of the two.

    python examples/product_embeddings.py --catalogue products.csv \
        --model ../shared/models/mobilenet_v2_100_224/feature_vector \
        --output /tmp/products

Beam's flags (``--runner DataflowRunner --project ...``) pass through.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from typing import Iterator, List, Optional, Tuple

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems
import pyarrow as pa

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
from transforms import api  # pylint: disable=wrong-import-position

SCHEMA = pa.schema([("product_id", pa.string()), ("title", pa.string()),
                    ("embedding", pa.list_(pa.float32()))])


def catalogue_rows(path: str) -> Iterator[Tuple[str, dict]]:
  """(product_id, row) per row of the catalogue CSV (local or gs://)."""
  with FileSystems.open(path) as raw:
    for row in csv.DictReader(io.TextIOWrapper(raw, encoding="utf-8")):
      yield row["product_id"], row


def with_title(product_id: str, joined: dict) -> Iterator[dict]:
  """The product's row with its embedding; nothing when it has none (its
  failure is in the failures output)."""
  (row,) = joined["product"]
  for result in joined["embedding"]:
    yield {"product_id": product_id, "title": row["title"],
           "embedding": [float(v) for v in result["embedding"]]}


def build(pipeline: beam.Pipeline, catalogue: str, output: str,
          infer: api.InferImages) -> None:
  products = (pipeline
              | "Catalogue" >> beam.Create([catalogue])
              | "Rows" >> beam.FlatMap(catalogue_rows))
  images = products | "ImageOf" >> beam.MapTuple(
      lambda product_id, row: (product_id, row["image"])).with_output_types(
          Tuple[str, str])
  inferred = images | "Embed" >> infer
  embeddings = inferred.results | "ByProduct" >> beam.Map(
      lambda result: (result["key"], result))
  _ = ({"product": products, "embedding": embeddings}
       | "Join" >> beam.CoGroupByKey()
       | "WithTitle" >> beam.FlatMapTuple(with_title)
       | "WriteProducts" >> beam.io.WriteToParquet(
           os.path.join(output, "products"), SCHEMA,
           file_name_suffix=".parquet"))
  _ = (inferred.failures
       | "FailureJson" >> beam.Map(json.dumps, sort_keys=True)
       | "WriteFailures" >> beam.io.WriteToText(
           os.path.join(output, "failures"), file_name_suffix=".jsonl"))


def main(argv: Optional[List[str]] = None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--catalogue", required=True)
  parser.add_argument("--model", required=True)
  parser.add_argument("--output", required=True)
  args, beam_args = parser.parse_known_args(argv)
  options = api.pipeline_options(beam_args)
  infer = api.InferImages(args.model, task="feature_vector")
  with beam.Pipeline(options=options) as pipeline:
    build(pipeline, args.catalogue, args.output, infer)
  return 0


if __name__ == "__main__":
  sys.exit(main())
