"""The seam between the engine and the project: what a task is made of.

``task`` (the ``Task`` interface the engine calls), ``project`` (how the project's package,
task and models are found), ``sections`` (the bases of the ``data``, ``model`` and ``task``
config sections), ``specs`` (what a model package records about inputs and outputs),
``metrics`` (streaming metrics) and ``ranking`` (exact AUROC and average precision),
``outputs`` (ready-made predictions), ``models`` (the model registry), ``layers`` (image
normalisation inside a model) and ``pretrained`` (a model part loaded from a safetensors file,
its origin recorded). The project builds its ``task.py``, ``data.py`` and ``models/`` from
these, through ``engine.api``.
"""
