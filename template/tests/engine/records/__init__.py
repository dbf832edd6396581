"""Tests of the engine's ``records`` stage."""
