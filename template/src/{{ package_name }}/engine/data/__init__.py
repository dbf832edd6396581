"""The data stage: samples in memory or on disk, their split, and the batches training reads.

``datasets`` (``TensorData`` and the reproducible train/val/test split), ``loaders`` (the
resumable per-epoch sampler and loaders), ``files`` and ``tables`` (CSV, Parquet and ``.npz``
files, checked before training), ``npy_rows`` (rows of ``.npy`` files larger than memory).
"""
