"""Tiny toy runs shared by the training tests: ``TOY_RUN`` and the ``toy_config`` fixture now live in
tests/fixtures/sak_test_utils.py and tests/conftest.py, shared with tests/faults."""

from __future__ import annotations

from sak_test_utils import TOY_RUN  # noqa: F401 - test_cli.py reads it from this module
