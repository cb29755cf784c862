"""Danish and Swedish are complete: every string a user can see has a translation, and no guess.

Fails on an untranslated msgid, an unused fuzzy entry (makemessages' guess, never shown), a
translation that breaks a placeholder (``msgfmt --check``), a translation that repeats itself,
and on a user-facing string in the code that was never collected (``make messages`` forgotten):
for that, makemessages runs on a copy of the project in a temporary directory.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LANGUAGES = ("da", "sv")
# What `make messages` passes to makemessages (see the Makefile).
MAKEMESSAGES = ["makemessages", "-l", "da", "-l", "sv", "--no-obsolete", "--add-location=file",
                "--ignore=.venv", "--ignore=sandbox", "--ignore=tests", "--ignore=bench", "--ignore=staticfiles",
                "--ignore=test-artifacts"]


def po_entries(path: Path) -> list[dict]:
    """The entries of a .po file: flags, msgid, msgid_plural and every msgstr (header left out)."""
    entries = []
    for block in path.read_text(encoding="utf-8").split("\n\n"):
        entry: dict = {"flags": set(), "msgid": None, "msgid_plural": None, "msgstr": []}
        current = None
        for line in block.strip().splitlines():
            if line.startswith("#~"):
                entry["obsolete"] = True
            elif line.startswith("#,"):
                entry["flags"].update(flag.strip() for flag in line[2:].split(","))
            elif line.startswith("#"):
                continue
            elif match := re.match(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?) (".*")$', line):
                key, value = match.group(1), json.loads(match.group(2))
                if key.startswith("msgstr"):
                    entry["msgstr"].append(value)
                    current = ("msgstr", len(entry["msgstr"]) - 1)
                else:
                    entry[key] = value
                    current = (key, None)
            elif line.startswith('"') and current:
                value = json.loads(line)
                if current[0] == "msgstr":
                    entry["msgstr"][current[1]] += value
                else:
                    entry[current[0]] += value
        if entry["msgid"] and not entry.get("obsolete"):
            entries.append(entry)
    return entries


def problems(path: Path) -> list[str]:
    found = []
    for entry in po_entries(path):
        name = entry["msgid"][:70]
        if "fuzzy" in entry["flags"]:
            found.append(f"fuzzy (a guess, never shown): {name}")
        elif any(not text for text in entry["msgstr"]):
            found.append(f"untranslated: {name}")
        for text in entry["msgstr"]:
            half = len(text) // 2
            if len(text) > 20 and len(text) % 2 == 0 and text[:half] == text[half:]:
                found.append(f"translation repeats itself: {name}")
    return found


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_collected_string_is_translated(language):
    assert problems(ROOT / "locale" / language / "LC_MESSAGES" / "django.po") == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_translations_keep_their_placeholders(language):
    msgfmt = shutil.which("msgfmt")
    if msgfmt is None:
        pytest.skip("msgfmt (gettext) is not installed")
    po = ROOT / "locale" / language / "LC_MESSAGES" / "django.po"
    result = subprocess.run([msgfmt, "--check-format", "-o", "/dev/null", str(po)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_every_user_facing_string_in_the_code_is_collected(tmp_path):
    """`make messages` on a copy of the project finds nothing new to translate."""
    if shutil.which("xgettext") is None:
        pytest.skip("xgettext (gettext) is not installed")
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".venv", ".git", "test-artifacts", "staticfiles", "*.sqlite3", "__pycache__", ".pytest_cache",
        ".ruff_cache", "bench"))
    env = {"DEBUG": "true", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "manage.py", *MAKEMESSAGES], cwd=copy, env=env, capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    for language in LANGUAGES:
        missing = problems(copy / "locale" / language / "LC_MESSAGES" / "django.po")
        assert missing == [], f"{language}: run `make messages` and translate: {missing[:10]}"
