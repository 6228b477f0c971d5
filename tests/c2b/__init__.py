"""Tests of c2b."""
