"""The suite's hypothesis profile (tests/conftest.py): derandomized unless a search is asked for."""

from __future__ import annotations

import os

import pytest
from hypothesis import settings


def test_hypothesis_is_derandomized_unless_exploring(pytestconfig: pytest.Config) -> None:
    exploring = (
        pytestconfig.getoption("hypothesis_seed", default=None) is not None
        or pytestconfig.getoption("hypothesis_profile", default=None)
        or os.environ.get("VGI_HYPOTHESIS_PROFILE")
    )
    if exploring:
        assert not settings.default.derandomize
    else:
        assert settings.default.derandomize
        assert settings.default.database is None
    assert settings.default.deadline is None
