"""Tests of the engine's ``deploy`` stage."""
