"""axe-core in the browser tests: ``assert_no_serious_a11y(page)`` fails on every serious or critical violation.

axe-core comes from the npm registry at the exact version that ``tests/a11y/package.json`` and its lock pin;
``make install`` runs ``npm ci`` here, and the tests read ``node_modules/axe-core/axe.min.js`` from disk, never
from the network. The pages' Content-Security-Policy allows only the server's own scripts, so the source is
evaluated through Playwright (the DevTools protocol, which the page's policy does not govern) instead of a
``<script>`` tag.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import Page

AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
"""The impacts a page may not have; axe's "minor" and "moderate" findings are not failures."""

_RUN = """async () => {
    const results = await window.axe.run(document, {resultTypes: ["violations"]});
    return results.violations.map(v => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        helpUrl: v.helpUrl,
        nodes: v.nodes.map(n => ({target: n.target.map(String).join(" "), summary: n.failureSummary || ""})),
    }));
}"""


@cache
def axe_source() -> str:
    if not AXE.exists():
        raise RuntimeError(f"axe-core is not installed at {AXE}: run `make install` (npm ci in tests/a11y)")
    # A trailing expression: Playwright evaluates the file as a script and returns a plain value.
    return AXE.read_text(encoding="utf-8") + "\n;void 0;"


def axe_violations(page: Page, impacts: tuple[str, ...] = BLOCKING) -> list[dict[str, Any]]:
    """axe's violations on the page as it is now, those of the given impacts only."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(axe_source())
    found: list[dict[str, Any]] = page.evaluate(_RUN)
    return [v for v in found if v["impact"] in impacts]


def unlabelled_fields(page: Page) -> list[str]:
    """The visible form fields with no name a screen reader reads out: no <label> with text, ``aria-label`` or
    ``aria-labelledby`` (stricter than axe, which also takes a ``title`` or a ``placeholder``)."""
    found: list[str] = page.evaluate(
        """() => [...document.querySelectorAll("input, select, textarea")]
            .filter(el => el.type !== "hidden")
            .filter(el => ![...el.labels].some(l => l.textContent.trim())
                && !(el.getAttribute("aria-label") || "").trim() && !el.getAttribute("aria-labelledby"))
            .map(el => el.outerHTML)"""
    )
    return found


def describe(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        lines.extend(f"    {node['target']}: {' '.join(node['summary'].split())}" for node in v["nodes"])
    return "\n".join(lines)


def assert_no_serious_a11y(page: Page, what: str = "") -> None:
    """Fails listing each serious or critical axe violation: its rule, its help and the nodes it found."""
    violations = axe_violations(page)
    if violations:
        raise AssertionError(
            f"axe found serious accessibility violations on {what or page.url}:\n{describe(violations)}"
        )
