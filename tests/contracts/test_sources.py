"""Every contract file names where it comes from, and every named source has its file."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

HERE = Path(__file__).parent
VENDORS = sorted(p for p in HERE.iterdir() if p.is_dir() and not p.name.startswith(("_", ".")))
COMMIT = re.compile(r"^[0-9a-f]{40}$")


def _entries(vendor: Path) -> dict[str, dict[str, str]]:
    with (vendor / "sources.toml").open("rb") as f:
        return tomllib.load(f).get("files", {})


def test_every_platform_has_material() -> None:
    assert {p.name for p in VENDORS} >= {"woocommerce", "shopify", "bigcommerce", "fusion", "peoplesoft", "jdedwards"}


@pytest.mark.parametrize("vendor", VENDORS, ids=lambda p: p.name)
def test_every_file_has_a_source_and_every_source_a_file(vendor: Path) -> None:
    entries = _entries(vendor)
    files = {p.relative_to(vendor).as_posix() for p in vendor.rglob("*") if p.is_file() and p.name != "sources.toml"}
    files = {f for f in files if "__pycache__" not in f}
    assert files, f"{vendor.name}: no material"
    assert sorted(files - set(entries)) == [], f"{vendor.name}: files without a source"
    assert sorted(set(entries) - files) == [], f"{vendor.name}: sources without a file"
    for name, entry in entries.items():
        assert entry.get("facts", "").strip(), f"{vendor.name}/{name}: say what the file transcribes"
        if "url" in entry:
            assert entry["url"].startswith("https://"), f"{vendor.name}/{name}: url"
        else:
            assert entry.get("repository", "").count("/") == 1, f"{vendor.name}/{name}: repository owner/name"
            assert entry.get("path"), f"{vendor.name}/{name}: path in the repository"
            assert COMMIT.match(entry.get("commit", "")), f"{vendor.name}/{name}: commit (40 hex digits)"
