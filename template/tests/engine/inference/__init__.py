"""Tests of the inference package: loading, model packages and the predictor."""
