"""The README's code blocks that tests execute: each follows a marker comment naming its test."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_block(test_file: str) -> str:
    """The Python block after ``<!-- executed by <test_file> -->`` in the README."""
    text = README.read_text(encoding="utf-8")
    marker = re.escape(f"<!-- executed by {test_file} -->")
    found = re.search(marker + r"\n```python\n(.*?)```", text, re.S)
    assert found is not None, f"the README's block executed by {test_file} is missing"
    return found.group(1)
