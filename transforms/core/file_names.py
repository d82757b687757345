"""File names as keys: every name gets exactly one key, UTF-8 or not.

A POSIX file name is bytes. Python hands names that are not valid UTF-8 to
us as ``str`` with lone surrogates (``surrogateescape``), which no UTF-8
encoder accepts: Beam's coders, Parquet and JSON all refuse them. So:

* a name that is valid UTF-8 is its own key, unchanged (``--skip_existing``
  keeps matching keys written before this module existed);
* any other name gets an *escaped* key: its bytes decoded as UTF-8 where
  they are valid, each invalid byte written ``\\xNN`` and each backslash
  doubled, so the key can be reversed to the exact bytes
  (:func:`unescape`). The key travels with ``escaped=True`` (the results'
  and failures' ``key_escaped`` column), and keys are joined on the pair
  (key, escaped), so an escaped key can never be confused with a real name
  that happens to contain ``\\xNN``.

Pure functions, no Beam.
"""
from __future__ import annotations

import os
from typing import Tuple

_SURROGATE_LOW = 0xDC80   # surrogateescape maps byte b (>= 0x80) to 0xDC00+b
_SURROGATE_HIGH = 0xDCFF
_HEX = "0123456789abcdefABCDEF"


def is_utf8(path: str) -> bool:
  """Whether ``path`` (as Python's file APIs return it) is valid UTF-8."""
  try:
    path.encode("utf-8")
  except UnicodeEncodeError:
    return False
  return True


def escape_bytes(raw: bytes) -> str:
  """Bytes of a name -> its escaped key: valid UTF-8 kept, every other byte
  ``\\xNN`` (lowercase hex), every backslash ``\\\\``."""
  text = raw.decode("utf-8", errors="surrogateescape")
  out = []
  for ch in text:
    code = ord(ch)
    if _SURROGATE_LOW <= code <= _SURROGATE_HIGH:
      out.append(f"\\x{code - 0xDC00:02x}")
    elif ch == "\\":
      out.append("\\\\")
    else:
      out.append(ch)
  return "".join(out)


def unescape(key: str) -> bytes:
  """An escaped key -> the exact bytes of the name it was made from.

  Raises:
    ValueError: ``key`` is not something :func:`escape_bytes` writes.
  """
  out = bytearray()
  i, n = 0, len(key)
  while i < n:
    ch = key[i]
    if ch != "\\":
      out += ch.encode("utf-8")
      i += 1
      continue
    if key.startswith("\\\\", i):
      out += b"\\"
      i += 2
    elif (key.startswith("\\x", i) and i + 4 <= n and
          all(c in _HEX for c in key[i + 2:i + 4])):
      out.append(int(key[i + 2:i + 4], 16))
      i += 4
    else:
      raise ValueError(
          f"not an escaped key: lone backslash at character {i} of {key!r}")
  return bytes(out)


def key_of(path: str) -> Tuple[str, bool]:
  """A listed path -> (key, escaped).

  Args:
    path: as the filesystem listing returned it (local names that are not
      UTF-8 carry surrogates).
  """
  if is_utf8(path):
    return path, False
  return escape_bytes(os.fsencode(path)), True


def path_of(key: str, escaped: bool) -> str:
  """(key, escaped) -> the path to open (local names that are not UTF-8
  come back with their surrogates, which ``open`` turns into the bytes)."""
  if not escaped:
    return key
  return os.fsdecode(unescape(key))


def shown(key: str, escaped: bool) -> str:
  """How logs and the report show a key: escaped keys say so."""
  return f"{key} (escaped name)" if escaped else key
