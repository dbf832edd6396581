"""Tests of the engine's ``settings`` stage."""
