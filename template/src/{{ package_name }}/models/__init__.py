"""The project's networks, one module each.

A module here holds a model's settings class and a builder decorated with ``@register_model``,
as the one beside this file does; the engine imports every module of this package, so a new file
is all a new model needs. ``model.name`` in the config picks one.
"""
