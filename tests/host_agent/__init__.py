"""Tests of host_agent."""
