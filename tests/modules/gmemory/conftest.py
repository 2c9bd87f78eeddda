"""Fixtures of the G-Memory tests (defined in gmemory_fixtures, shared with the test modules)."""

from gmemory_fixtures import backend, make_memory  # noqa: F401
