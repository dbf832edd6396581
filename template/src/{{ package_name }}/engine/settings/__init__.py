"""The typed configuration: the engine's sections, and the whole ``Config`` of a run.

``sections`` (``optim``, ``train``, ``distributed``, ``run``), ``loading`` (composing a task's
``Config``, presets, YAML files and ``key=value`` overrides), ``keys`` (every settable key, for the
help and the reference), ``problems`` and ``files`` (one-line errors, safe YAML).
"""
