"""Tests of the engine: the template's, kept current by copier update."""
