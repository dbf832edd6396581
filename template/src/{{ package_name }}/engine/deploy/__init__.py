"""Deployment: model packages that leave training, and prediction checked against their contract.

``package`` (``export_package`` turns a checkpoint into a package: safetensors weights and a
``contract.json``), ``portable`` (the optional ``.pt2`` and ONNX files of a package),
``predictor`` (``Predictor``: a package or checkpoint on a device, predicting in batches) and,
with the ``serving`` answer, ``service`` (the HTTP service).
"""
