import sys
from pathlib import Path

# fixture_support.py lives beside the tests and is imported by several of them.
sys.path.insert(0, str(Path(__file__).resolve().parent))
