"""Mermaid, DOT and SVG diagrams; the docs page draws every built-in journey with to_svg()."""

from __future__ import annotations

import datetime as dt
import itertools
import pathlib
import re
import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from carekit.journeys import (
    JourneyDefinition,
    Phase,
    State,
    Touchpoint,
    Transition,
    order_journey,
    service_case_journey,
    visit_journey,
)
from carekit.journeys.diagrams import format_within, to_svg

SVG = "{http://www.w3.org/2000/svg}"

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "journeys-diagrams.md"
BUILTINS = {"order": order_journey, "service_case": service_case_journey,
            "visit": visit_journey}


def test_mermaid_groups_phases_and_marks_touchpoints() -> None:
    text = order_journey().to_mermaid()
    lines = text.splitlines()
    assert lines[:2] == ["flowchart LR", "    %% journey: order"]
    assert '    subgraph phase_before["Before contact"]' in lines
    assert '    subgraph phase_during["During"]' in lines
    assert '    subgraph phase_after["After"]' in lines
    assert lines.count("    end") == 3
    assert '        s_acknowledged("acknowledged<br/>✉ order_thanks (1h)")' in lines
    assert '        s_shipped("shipped<br/>✉ shipped_with_tracking (1h)")' in lines
    assert '        s_placed("placed<br/>⏱ 1h → acknowledgement_overdue")' in lines
    assert "    journey_start --> s_new" in lines
    assert '    s_production_nearly_done -->|"ship"| s_shipped' in lines
    assert "    s_closed --> journey_end" in lines and "    s_cancelled --> journey_end" in lines
    assert '    s_placed -->|"promise_at_risk ✉ promise_at_risk_notice"| s_placed' in lines
    assert "class s_acknowledged,s_production_nearly_done,s_shipped,s_delivered touchpoint" in text
    assert "class s_closed,s_cancelled final" in text
    assert text.endswith("\n")
    # every transition is drawn once
    assert sum(1 for line in lines if "-->|" in line) == len(order_journey().transitions)


def test_dot_clusters_and_marks() -> None:
    text = order_journey().to_dot()
    assert text.startswith('digraph "order" {')
    assert "subgraph cluster_before {" in text and "subgraph cluster_after {" in text
    assert 'acknowledged [label="acknowledged\n✉ order_thanks (1h)", penwidth=2];' in text
    assert "closed [label=\"closed\", peripheries=2];" in text
    assert '__start -> new;' in text
    assert 'production_nearly_done -> shipped [label="ship"];' in text
    assert "⏱ 1h → acknowledgement_overdue" in text
    assert text.rstrip().endswith("}")
    # every state appears once as a node
    for state in order_journey().states:
        assert len(re.findall(rf"^        {state.name} \[", text, flags=re.M)) == 1


def test_business_time_is_noted() -> None:
    assert "⏱ 1h business → first_response_overdue" in service_case_journey().to_mermaid()
    assert "⏱ 1h business → first_response_overdue" in service_case_journey().to_dot()


@pytest.mark.parametrize(
    ("seconds", "label"),
    [(0, "now"), (45, "45s"), (60, "1m"), (5400, "1h30m"), (86400 * 2, "2d"), (90061, "1d1h1m1s")],
)
def test_format_within(seconds: int, label: str) -> None:
    assert format_within(dt.timedelta(seconds=seconds)) == label


def _boxes(root: ET.Element) -> list[tuple[float, float, float, float]]:
    # The states' outer boxes (rx="8"): x, y, width, height.
    return [
        (float(r.get("x", "")), float(r.get("y", "")), float(r.get("width", "")),
         float(r.get("height", "")))
        for r in root.iter(f"{SVG}rect")
        if r.get("rx") == "8"
    ]


def _state_texts(root: ET.Element) -> dict[str, list[str]]:
    # Each state's text block: its name (the first, bold line), then its other lines.
    texts = {}
    for text in root.iter(f"{SVG}text"):
        spans = list(text.iter(f"{SVG}tspan"))
        if spans and spans[0].get("font-weight") == "bold":
            texts[spans[0].text or ""] = [s.text or "" for s in spans[1:]]
    return texts


def _check_svg(definition: JourneyDefinition) -> ET.Element:
    svg = to_svg(definition)
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{SVG}svg"
    assert svg.endswith("</svg>\n")
    width, height = float(root.get("width", "")), float(root.get("height", ""))
    assert root.get("viewBox") == f"0 0 {width:.0f} {height:.0f}"
    texts = _state_texts(root)
    assert set(texts) == {s.name for s in definition.states}
    # every event is written on the picture: on its arrow, or in its state after ↻
    words = " ".join(t.text or "" for t in root.iter(f"{SVG}text")) + " ".join(
        line for lines in texts.values() for line in lines
    )
    for transition in definition.transitions:
        assert transition.event in words
    # one arrow per transition, plus the start's and one per final state
    arrows = [p for p in root.iter(f"{SVG}path") if p.get("marker-end")]
    finals = sum(s.final for s in definition.states)
    assert len(arrows) == len(definition.transitions) + 1 + finals
    # the boxes lie inside the picture and never overlap
    boxes = _boxes(root)
    assert len(boxes) == len(definition.states)
    for x, y, w, h in boxes:
        assert x >= 0 and x + w <= width and y >= 0 and y + h <= height
    for i, (x1, y1, w1, h1) in enumerate(boxes):
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x1 + w1 <= x2 or x2 + w2 <= x1 or y1 + h1 <= y2 or y2 + h2 <= y1
    return root


@pytest.mark.parametrize("make", list(BUILTINS.values()), ids=list(BUILTINS))
def test_svg_is_well_formed_and_shows_every_state_and_event(make: object) -> None:
    assert callable(make)
    _check_svg(make())


def test_svg_marks_touchpoints_deadlines_loops_and_finals() -> None:
    definition = order_journey()
    root = _check_svg(definition)
    texts = _state_texts(root)
    assert texts["acknowledged"][0] == "✉ order_thanks (1h)"
    assert "⏱ 1h → acknowledgement_overdue" in texts["placed"]
    assert "↻ promise_at_risk ✉ promise_at_risk_notice" in texts["placed"]
    # final states have a second, inner border; touchpoint states a heavy one
    inner = [r for r in root.iter(f"{SVG}rect") if r.get("rx") == "6"]
    assert len(inner) == len(definition.final_states)
    heavy = [r for r in root.iter(f"{SVG}rect") if r.get("stroke-width") == "3"]
    assert len(heavy) == 4  # acknowledged, production_nearly_done, shipped, delivered
    # the legend names the phases
    legend = {t.text for t in root.iter(f"{SVG}text")}
    assert {"Before contact", "During", "After"} <= legend
    assert order_journey().to_svg() == to_svg(definition)


def test_svg_ids_differ_between_journeys_so_pictures_share_a_page() -> None:
    ids = [
        {e.get("id") for e in ET.fromstring(make().to_svg()).iter() if e.get("id")}
        for make in BUILTINS.values()
    ]
    assert all(ids) and not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


@st.composite
def definitions(draw: st.DrawFn) -> JourneyDefinition:
    # A chain s0 -> s1 -> ... whose last state is final (so every state is reachable and
    # none is a dead end), final leaves hung off it, and any extra transitions between the
    # chain's other states (back, forward, loops).
    n = draw(st.integers(2, 6))
    chain = [f"s{i}" for i in range(n)]
    leaves = [f"f{i}" for i in range(draw(st.integers(0, 2)))]
    phase = st.sampled_from(list(Phase))
    states = [State(name, phase=draw(phase)) for name in chain[:-1]]
    states += [State(name, phase=draw(phase), final=True) for name in [chain[-1], *leaves]]
    edges = list(itertools.pairwise(chain))
    inner = st.sampled_from(chain[:-1])
    edges += [(draw(inner), leaf) for leaf in leaves]
    edges += draw(st.lists(st.tuples(inner, st.sampled_from(chain)), max_size=8))
    transitions = [Transition(f"e{i}", src, dst) for i, (src, dst) in enumerate(edges)]
    owing = draw(st.lists(st.sampled_from([s.name for s in states]), max_size=3, unique=True))
    touchpoints = [
        Touchpoint(f"t{i}", on_enter=name, within=dt.timedelta(hours=1))
        for i, name in enumerate(owing)
    ]
    return JourneyDefinition("drawn", states, transitions, touchpoints, initial="s0")


@given(definitions())
def test_svg_of_any_definition_is_well_formed_and_complete(definition: JourneyDefinition) -> None:
    _check_svg(definition)


def test_docs_page_draws_every_builtin_journey() -> None:
    # The page draws with the journey-diagram directive at build time (docs/_ext), so the
    # pictures cannot go stale; it must name each built-in journey once, and nothing else
    # (no Mermaid source, which needs a script from a CDN to show).
    page = DOCS.read_text(encoding="utf-8")
    drawn = re.findall(r"^```\{journey-diagram\} carekit\.journeys\.(\w+)_journey$", page, re.M)
    assert sorted(drawn) == sorted(BUILTINS)
    assert "```mermaid" not in page
