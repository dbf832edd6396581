"""Tests of the engine's ``checkpoints`` stage."""
