"""The seam between the engine and the project: what a task is made of.

``task`` (the ``Task`` interface the engine calls, and how the project's task is found),
``sections`` (the bases of the ``data``, ``model`` and ``task`` config sections), ``specs``
(what a model package records about inputs and outputs), ``metrics`` (streaming metrics),
``outputs`` (ready-made predictions) and ``models`` (the model registry). The project builds its
``task.py``, ``data.py`` and ``models/`` from these, through ``engine.api``.
"""
