"""Where the tests' files are, for test modules at any depth under tests/ (their folders mirror the package)."""
from pathlib import Path

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
FIXTURES = TESTS / "fixtures"
