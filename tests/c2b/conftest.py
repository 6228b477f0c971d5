"""Fixtures for the landing-page tests (helpers in c2b_stack.py)."""

import pytest

from tests.c2b.c2b_stack import running_stack


@pytest.fixture
async def stack(tmp_path):
    async with running_stack(tmp_path) as stack:
        yield stack
