"""Shared fixtures: every test gets its own empty cache folder."""

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """Point $SCPAPER_CACHE at a temporary folder and clear $SCPAPER_REFRESH."""
    monkeypatch.setenv("SCPAPER_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("SCPAPER_REFRESH", raising=False)
