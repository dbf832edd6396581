"""Tests of the engine's ``data`` stage."""
