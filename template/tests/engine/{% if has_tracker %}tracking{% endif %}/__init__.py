"""Tests of the tracking package."""
