"""Training: the loop, and the parts it delegates to.

``run`` (``train``: a run's process group, folder, lock and tracker), ``loop`` (the ``Trainer``),
``checkpointing`` (when to save), ``stopping`` (when to stop early), ``reporting`` (each epoch's
metrics and log line), ``resume`` and ``position`` (where a run stands), ``state`` (what a
checkpoint keeps of the model and optimizer), ``optim``, ``averaging``, ``tally``,
``throughput`` and ``profiling``; ``groups`` trains one config over several seeds or folds.
"""
