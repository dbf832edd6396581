"""Tests of the engine's ``seam`` stage."""
