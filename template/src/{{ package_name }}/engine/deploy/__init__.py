"""Deployment: model packages that leave training, and prediction checked against their contract.

``package`` (``export_package`` turns a checkpoint into a package: safetensors weights and a
``contract.json``), ``schemas`` (the contract's checksum, and how an older contract is read),
``fitting`` (whether a contract fits the project and its model), ``portable`` and ``pt2_check``
(the optional ``.pt2`` and ONNX files of a package, a ``.pt2`` checked before it is loaded),
``predictor`` (``Predictor``: a package or checkpoint on a device, predicting in batches) and,
with the ``serving`` answer, ``service`` (the HTTP service).
"""
