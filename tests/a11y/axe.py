"""Run axe-core in a page and keep what JIS X 8341-3 / WCAG 2.1 AA asks for."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")

_RUN = """async (only) => {
  const result = await window.axe.run(document, {
    runOnly: only,
    resultTypes: ["violations"],
  });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help, tags: v.tags,
    nodes: v.nodes.slice(0, 5).map((n) => ({
      target: n.target.join(" "), summary: n.failureSummary,
    })),
  }));
}"""


def axe_violations(
    page: Page, axe_source: str, rules: list[str] | None = None
) -> list[dict[str, Any]]:
    """The WCAG 2.1 A/AA violations axe finds in the page as it is now (or those of `rules`).

    The script is evaluated through the DevTools protocol, so the page's Content Security
    Policy (nonces, no inline scripts) stays on and the page behaves as in production.
    """
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(f"() => {{ {axe_source}\n;window.axe = axe; }}")
    only = {"type": "rule", "values": rules} if rules else {"type": "tag", "values": WCAG_TAGS}
    violations: list[dict[str, Any]] = page.evaluate(_RUN, only)
    return violations


def blocking(violations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [v for v in violations if v["impact"] in BLOCKING]


def describe(where: str, violations: list[dict[str, Any]]) -> str:
    lines = [f"{where}:"]
    for v in violations:
        lines.append(f"  [{v['impact']}] {v['id']}: {v['help']}")
        for node in v["nodes"]:
            summary = " ".join(str(node["summary"]).split())
            lines.append(f"      {node['target']} — {summary}")
    return "\n".join(lines)
