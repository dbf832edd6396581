"""What every stage stands on: errors, seeding, devices, logging, signals, files, provenance.

``exceptions`` (the hierarchy every deliberate error belongs to), ``seed`` (the one place that
seeds), ``device`` (the one place that picks a device), ``log`` and ``progress`` (the console),
``signals`` (graceful stops), ``files`` (atomic writes) and ``provenance`` (versions). Nothing
here imports another stage.
"""
