"""Tests of the models subpackage."""
