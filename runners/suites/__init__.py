"""Per-family experiment lists of SUITE_V1 (see runners/suite.py)."""
