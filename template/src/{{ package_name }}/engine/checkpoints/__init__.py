"""Checkpoints: folders of safetensors weights and training state, and the models they rebuild.

``store`` (writing atomically, pointers, loading with ``weights_only=True``), ``writer`` (saving on
a background thread), ``sharded`` (``torch.distributed.checkpoint`` shards), ``averages`` (weight
averages) and ``model`` (a trained model rebuilt from a checkpoint, in eval mode).
"""
