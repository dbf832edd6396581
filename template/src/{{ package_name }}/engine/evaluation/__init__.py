"""Evaluation: a model's loss and task metrics over a set of batches, and scoring a checkpoint.

``loop`` (``evaluate``, used after every epoch and by ``evaluate``) and ``scoring`` (a trained
model on a split of its data, or on another file).
"""
