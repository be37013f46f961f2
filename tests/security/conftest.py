"""Test set-up of the security suite."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # stepfunctions 2.3 imports the deprecated pkg_resources; the project pins setuptools<81 for it.
    config.addinivalue_line("filterwarnings", "ignore:pkg_resources is deprecated:UserWarning")
