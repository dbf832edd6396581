"""Tests of the Copier template: its questions, its renders and the projects it generates."""
