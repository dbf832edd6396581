"""Tests of the package, one module per source module."""
