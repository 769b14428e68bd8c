"""Workflow tests run on the time-skipping test server, which has no Worker Deployments: their
workers are unversioned (KRIPTO_WORKER_VERSIONING=false), as on any such server."""

from __future__ import annotations

import pytest

from kripto.settings import Settings


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"worker_versioning": False})
