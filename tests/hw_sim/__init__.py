"""Tests of hw_sim."""
