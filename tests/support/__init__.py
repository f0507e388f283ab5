"""Test support: code that exists only for the tests. Tests reach it through the fixtures in
tests/conftest.py, never by importing it."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
