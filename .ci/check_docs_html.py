"""Check the built HTML docs for what a strict Sphinx build lets through.

Usage: ``python .ci/check_docs_html.py BUILD_DIR`` (the ``sphinx-build -b html`` output).
Fails (exit 1, one line per finding) on:

- an unrendered Sphinx role in the text a reader sees (``:class:``, ``:func:``, ...), outside
  code listings (a listing of Python source may quote a docstring's roles);
- diagram source left unrendered (a ``mermaid`` block, ``stateDiagram``, ``graph TD``...);
- a script, style sheet or CSS import loaded from the network (the docs must work offline);
- code blocks that cannot scroll: a CSS rule giving ``pre`` or a highlighted block
  ``overflow: hidden`` (or ``clip``), a page using line-number tables (Furo clips those), or
  no ``pre`` rule with ``overflow: auto``/``scroll`` at all.
"""

from __future__ import annotations

import html.parser
import pathlib
import re
import sys

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|attr|mod|exc|data|obj|const):`?")
DIAGRAM_SOURCE = re.compile(
    r"```\s*mermaid|\bstateDiagram(?:-v2)?\b|^\s*(?:graph|flowchart)\s+(?:TD|TB|BT|LR|RL)\s*$",
    re.M,
)
REMOTE = re.compile(r"^\s*(?:https?:)?//", re.I)
CSS_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
CSS_REMOTE = re.compile(
    r"@import\s+(?:url\()?\s*['\"]?\s*(?:https?:)?//|url\(\s*['\"]?https?://", re.I
)
CLIPPED = re.compile(r"overflow(?:-x)?\s*:\s*(?:hidden|clip)", re.I)
SCROLLS = re.compile(r"overflow(?:-x)?\s*:\s*(?:auto|scroll)", re.I)
BLOCKS = {
    "p",
    "pre",
    "div",
    "dd",
    "dt",
    "li",
    "td",
    "th",
    "tr",
    "br",
    "section",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "blockquote",
    "table",
    "ul",
    "ol",
    "dl",
    "figure",
    "svg",
}
CODE_SELECTOR = re.compile(r"(?:^|[\s>+~,])(?:pre|div\.highlight|\.highlight(?:\s+pre)?)\s*$")


class _Page(html.parser.HTMLParser):
    """The visible text of a page (no script or style), and what it loads from where."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.prose: list[str] = []  # the text outside <pre> listings
        self.loads: list[str] = []
        self.mermaid_elements = 0
        self.line_number_tables = 0
        self._hidden = 0
        self._listing = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._break(tag)
        found = dict(attrs)
        classes = (found.get("class") or "").split()
        if "mermaid" in classes or "language-mermaid" in classes:
            self.mermaid_elements += 1
        if "highlighttable" in classes:
            self.line_number_tables += 1
        if tag == "script" and found.get("src"):
            self.loads.append(f"script {found['src']}")
        if tag == "link" and "stylesheet" in (found.get("rel") or "") and found.get("href"):
            self.loads.append(f"style sheet {found['href']}")
        if tag in ("script", "style"):
            self._hidden += 1
        if tag == "pre":
            self._listing += 1

    def handle_endtag(self, tag: str) -> None:
        self._break(tag)
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1
        if tag == "pre" and self._listing:
            self._listing -= 1

    def _break(self, tag: str) -> None:
        # Block elements end a line, so text of two blocks never runs together.
        if tag in BLOCKS:
            self.text.append("\n")
            self.prose.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)
            if not self._listing:
                self.prose.append(data)


def check_page(path: pathlib.Path) -> list[str]:
    """What is wrong with one built page, as ``path: finding`` lines."""
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    text, prose = "".join(page.text), "".join(page.prose)
    problems = []
    for match in ROLE.finditer(prose):
        context = prose[max(0, match.start() - 30) : match.end() + 30].replace("\n", " ")
        problems.append(f"{path}: unrendered role {match.group()!r} in ...{context}...")
    for match in DIAGRAM_SOURCE.finditer(text):
        problems.append(f"{path}: unrendered diagram source {match.group().strip()!r}")
    if page.mermaid_elements:
        problems.append(f"{path}: {page.mermaid_elements} mermaid element(s) left for a script")
    for load in page.loads:
        if REMOTE.match(load.split(" ")[-1]):
            problems.append(f"{path}: loads a {load} from the network")
    if page.line_number_tables:
        problems.append(f"{path}: code with line numbers (a table whose code cell clips)")
    return problems


def check_css(path: pathlib.Path) -> tuple[list[str], bool]:
    """What is wrong with one style sheet, and whether it lets ``pre`` scroll."""
    css = re.sub(r"/\*.*?\*/", "", path.read_text(encoding="utf-8"), flags=re.S)
    problems = [f"{path}: imports from the network" for _ in CSS_REMOTE.finditer(css)]
    scrolls = False
    for selectors, body in CSS_RULE.findall(css):
        code = [s.strip() for s in selectors.split(",") if CODE_SELECTOR.search(s.strip())]
        if not code:
            continue
        if CLIPPED.search(body):
            problems.append(f"{path}: {', '.join(code)} {{{body.strip()}}} cuts code off")
        if SCROLLS.search(body) and any(re.search(r"(?:^|\s)pre$", s) for s in code):
            scrolls = True
    return problems, scrolls


def check(build: pathlib.Path) -> list[str]:
    """Every finding for a built site (empty when it is fine)."""
    pages = sorted(build.rglob("*.html"))
    if not pages:
        return [f"{build}: no HTML pages (build the docs first)"]
    problems = []
    for path in pages:
        if "_sources" not in path.parts:
            problems += check_page(path)
    scrolls = False
    for path in sorted(build.rglob("*.css")):
        found, ok = check_css(path)
        problems += found
        scrolls = scrolls or ok
    if not scrolls:
        problems.append(f"{build}: no style sheet gives pre overflow: auto (long lines are cut)")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: check_docs_html.py BUILD_DIR", file=sys.stderr)
        return 2
    problems = check(pathlib.Path(argv[0]))
    for problem in problems:
        print(problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
