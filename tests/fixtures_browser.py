"""Fixtures for this area (see conftest.py)."""
