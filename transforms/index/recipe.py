"""What made an index's vectors: read from the results' own metadata (the
only honest source), compared before folders are mixed."""
from __future__ import annotations

import dataclasses
import json
from typing import Dict, Mapping, Optional

# The metadata entries that must agree for two folders' vectors to share an
# index, and that a query must reproduce.
FIELDS = ("model", "model_digest", "task", "entry", "engine", "precision",
          "decode", "image_size", "quantized_model")


@dataclasses.dataclass(frozen=True)
class IndexRecipe:
  """Attributes: the results' metadata entries of :data:`FIELDS` (None when
  older results lack one), and the vectors' dimension."""
  fields: Mapping[str, Optional[str]]
  dimension: int

  @classmethod
  def from_metadata(cls, metadata: Mapping[str, str],
                    dimension: int) -> "IndexRecipe":
    return cls({f: metadata.get(f) for f in FIELDS}, dimension)

  def missing(self):
    """Fields older results do not record (a query cannot be reproduced)."""
    return [f for f in FIELDS if self.fields.get(f) is None and
            f != "quantized_model"]

  def differs_from(self, other: "IndexRecipe") -> Optional[str]:
    """The first field on which the two disagree, as ``name: a vs b``."""
    if self.dimension != other.dimension:
      return f"dimension: {self.dimension} vs {other.dimension}"
    for name in FIELDS:
      a, b = self.fields.get(name), other.fields.get(name)
      if a != b:
        return f"{name}: {a!r} vs {b!r}"
    return None

  def to_json(self, count: int, folders) -> Dict:
    return {"fields": dict(self.fields), "dimension": self.dimension,
            "count": count, "folders": list(folders)}

  @classmethod
  def from_json(cls, record: Mapping) -> "IndexRecipe":
    return cls(dict(record["fields"]), int(record["dimension"]))

  def decode_settings(self) -> Dict:
    return json.loads(self.fields["decode"] or "{}")
