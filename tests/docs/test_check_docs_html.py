"""The CI check of the built docs finds unrendered roles and diagrams, network loads, clipping."""

from __future__ import annotations

import importlib.util
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("check_docs_html", ROOT / ".ci/check_docs_html.py")
assert _spec is not None and _spec.loader is not None
check_docs_html = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_docs_html)

GOOD_CSS = "pre{overflow:auto}\n.highlight{background:#fff}\n"
GOOD_PAGE = (
    '<html><head><link rel="stylesheet" href="_static/furo.css">'
    '<script src="_static/furo.js"></script><style>.x{color:red}</style></head><body>'
    '<p>See <a class="reference internal" href="#x"><code>CareKit</code></a>.</p>'
    '<div class="highlight"><pre>"""Keeps it in :data:`GATEWAY`."""\n'
    'assert mermaid.startswith("flowchart LR")</pre></div>'
    "<svg><title>journey order</title></svg></body></html>"
)


def _site(tmp_path: pathlib.Path, page: str = GOOD_PAGE, css: str = GOOD_CSS) -> pathlib.Path:
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "furo.css").write_text(css, encoding="utf-8")
    (tmp_path / "index.html").write_text(page, encoding="utf-8")
    return tmp_path


def test_a_good_site_passes(tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Roles quoted in a code listing are source code, not unrendered roles.
    assert check_docs_html.check(_site(tmp_path)) == []
    assert check_docs_html.main([str(tmp_path)]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("body", "finding"),
    [
        ("<p>the :class:<code>CoverageInterval</code> of a day</p>", "unrendered role ':class:'"),
        ("<dd>Raises :exc:`CareKitError` when</dd>", "unrendered role ':exc:`'"),
        ("<p>see :py:meth:`x`</p>", "unrendered role ':py:meth:`'"),
        ('<div class="mermaid">a --> b</div>', "mermaid element"),
        ("<p>```mermaid</p>", "unrendered diagram source '```mermaid'"),
        ("<pre>stateDiagram-v2\n [*] --> a</pre>", "unrendered diagram source 'stateDiagram-v2'"),
        ("<pre>graph TD\n a --> b</pre>", "unrendered diagram source 'graph TD'"),
        ('<script src="https://unpkg.com/mermaid.min.js"></script>', "loads a script https://"),
        ('<script src="//cdn.example.com/x.js"></script>', "loads a script //cdn"),
        ('<link rel="stylesheet" href="http://fonts.example/x.css">', "loads a style sheet"),
        ('<table class="highlighttable"><tr><td>1</td></tr></table>', "line numbers"),
    ],
)
def test_each_problem_is_found(tmp_path: pathlib.Path, body: str, finding: str) -> None:
    page = GOOD_PAGE.replace("</body>", body + "</body>")
    problems = check_docs_html.check(_site(tmp_path, page))
    assert len(problems) == 1, problems
    assert problems[0].startswith(str(tmp_path / "index.html"))
    assert finding in problems[0]


@pytest.mark.parametrize(
    ("css", "finding"),
    [
        (GOOD_CSS + "pre{overflow:hidden}", "cuts code off"),
        (GOOD_CSS + "@media (max-width:40em){.highlight pre{overflow-x: clip}}", "cuts code off"),
        (GOOD_CSS + "div.highlight{overflow:hidden;color:red}", "cuts code off"),
        (".highlight{background:#fff}", "no style sheet gives pre overflow: auto"),
        (GOOD_CSS + "@import url(https://fonts.example/x.css);", "imports from the network"),
    ],
)
def test_clipped_code_and_remote_css_are_found(
    tmp_path: pathlib.Path, css: str, finding: str
) -> None:
    problems = check_docs_html.check(_site(tmp_path, css=css))
    assert len(problems) == 1, problems
    assert finding in problems[0]


def test_other_overflow_rules_are_fine(tmp_path: pathlib.Path) -> None:
    css = GOOD_CSS + ".sidebar{overflow:hidden}\n.highlighttable td.code{overflow:hidden}"
    assert check_docs_html.check(_site(tmp_path, css=css)) == []


def test_an_empty_build_and_a_bad_call_fail(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert check_docs_html.main([str(tmp_path)]) == 1
    assert "no HTML pages" in capsys.readouterr().out
    assert check_docs_html.main([]) == 2
    assert "usage" in capsys.readouterr().err
