"""Tests of the engine's ``evaluation`` stage."""
