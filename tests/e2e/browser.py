"""The browser-test harness: Debian's Chromium driven by Playwright for Python (no browser
download: executable_path=/usr/bin/chromium), a phone and a desktop viewport, a screenshot of
each page visited (under the test's own output folder; with JINGKANG_SCREENSHOTS=1 the latest
are also copied to console/screenshots/ for the README, so a plain test run changes no tracked file), and an axe-core check of the page (no serious or
critical violation). The fixtures using these are in tests/e2e/conftest.py."""
from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT

CHROMIUM = "/usr/bin/chromium"
AXE = ROOT / "console/node_modules/axe-core/axe.min.js"
SCREENSHOTS = ROOT / "console/screenshots"
PHONE = {"width": 360, "height": 800}
DESKTOP = {"width": 1366, "height": 900}


def launch(playwright):
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: deploy/system-packages.sh installs Debian's chromium")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"], headless=True)


@dataclass
class Screen:
    """One browser tab of one viewport, pointed at the console."""
    page: object  # playwright.sync_api.Page
    base_url: str
    out: Path  # the test's output folder
    device: str  # phone or desktop: part of each screenshot's name
    shots: list[Path] = field(default_factory=list)
    csp_errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.on("console", lambda m: self.csp_errors.append(m.text)
                     if m.type == "error" and "Content Security Policy" in m.text else None)

    def go(self, path: str):
        self.page.goto(self.base_url + path)
        return self.page

    def shot(self, name: str, publish: bool = True) -> Path:
        """Saves the whole page as <out>/<nn>-<device>-<name>.png; the latest one of each name
        also goes to console/screenshots/<device>-<name>.png for the README when
        JINGKANG_SCREENSHOTS=1, unless the page shows a (generated, but well-formed) identity:
        that stays in the test's folder."""
        slug = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
        path = self.out / f"{len(self.shots) + 1:02d}-{self.device}-{slug}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path)
        if publish and os.environ.get("JINGKANG_SCREENSHOTS") == "1":
            SCREENSHOTS.mkdir(exist_ok=True)
            shutil.copyfile(path, SCREENSHOTS / f"{self.device}-{slug}.png")
        return path

    def axe(self) -> list[dict]:
        """The serious and critical accessibility violations axe-core finds on the page. axe is
        evaluated through the DevTools protocol, which the page's CSP (no inline script) allows."""
        if not self.page.evaluate("typeof window.axe !== 'undefined'"):
            self.page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
        result = self.page.evaluate("axe.run(document, {resultTypes: ['violations']})")
        return [{"id": v["id"], "impact": v["impact"], "help": v["help"],
                 "targets": [n["target"] for n in v["nodes"]][:5]}
                for v in result["violations"] if v["impact"] in ("serious", "critical")]

    def check(self, name: str, publish: bool = True) -> None:
        """The usual end of a visit: a screenshot, no serious accessibility problem, no CSP refusal."""
        self.shot(name, publish)
        assert self.axe() == [], f"axe on {self.page.url}"
        assert self.csp_errors == [], self.csp_errors
