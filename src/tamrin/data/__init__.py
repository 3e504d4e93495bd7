"""Data: the store (paths, md5, download, safe extract), readers, splits, in-memory batches."""
