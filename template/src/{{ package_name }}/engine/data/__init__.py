"""The data stage: samples in memory or on disk, their split, and the batches training reads.

``datasets`` (``TensorData`` and the reproducible train/val/test split), ``sampler`` and
``loaders`` (the resumable per-epoch order, and the batches read in it), ``files`` and ``tables``
(CSV, Parquet and ``.npz`` files, checked before training), ``npy_rows`` (rows of ``.npy`` files
larger than memory), ``image_folder``, ``images`` and ``transforms`` (folders of image files,
decoded and augmented on the loaders' workers) and ``texts`` (columns of text and labels).
"""
