"""Searching what a job embedded: an index over one or more output folders'
embeddings (``build``), with the manifest of what made the vectors
(``manifest``), nearest neighbours (``store``), near-duplicates
(``duplicates``), query images embedded exactly as the run did
(``query``), an IVF-PQ index built as a Beam job (``parallel``) and many
queries searched as one (``batch_search``). Like the report, it reads
outputs as a user would: the files and their recorded metadata."""
