"""Tests of the engine's ``trainer`` stage."""
