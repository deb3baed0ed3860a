"""The console's message catalogue: every key a template names exists in both languages."""
from __future__ import annotations

import re
from pathlib import Path

from console import pages
from console.i18n import LANGUAGES, catalogue

TEMPLATES = Path(__file__).resolve().parents[2] / "console/templates"


def test_every_message_a_template_names_is_in_every_language():
    messages = catalogue(area.MESSAGES for area in pages.AREAS)
    named = {key for path in TEMPLATES.rglob("*.html")
             for key in re.findall(r"""\bt\(\s*["']([a-z_.]+)["']""", path.read_text(encoding="utf-8"))
             if not key.endswith(".")}  # "role." ~ user.role: a prefix completed at render time
    assert named, "no template names a message?"
    for lang in LANGUAGES:
        assert sorted(named - set(messages[lang])) == [], lang


def test_both_languages_have_the_same_keys():
    messages = catalogue(area.MESSAGES for area in pages.AREAS)
    assert set(messages["zh-CN"]) == set(messages["en"])
