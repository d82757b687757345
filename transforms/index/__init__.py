"""Searching what a job embedded: an index over one or more output folders'
embeddings (``build``), with the manifest of what made the vectors
(``manifest``), nearest neighbours (``store``), near-duplicates
(``duplicates``) and query images embedded exactly as the run did
(``query``). Like the report, it reads outputs as a user would: the files
and their recorded metadata."""
