"""Training on several processes under torchrun: the process group, and the model spread over it.

``ranks`` (the process group and the few collectives the trainer needs) and ``parallel``
(replicated with DDP or sharded with FSDP2, per model block; activation checkpointing).
"""
