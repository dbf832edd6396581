"""Tests of the engine's ``distributed`` stage."""
