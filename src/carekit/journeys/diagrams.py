"""Draw journey definitions as Mermaid or Graphviz DOT sources, or as a ready SVG picture.

Phases become groups (Mermaid subgraphs, DOT clusters, SVG fill colours); states that owe a
touchpoint on entry are marked with ✉ and list the touchpoints, deadlines are marked with ⏱;
final states lead to the end marker. :func:`to_svg` needs no renderer at all: it lays the
states out itself, so a picture can be made offline with nothing but carekit.

Examples:
    >>> from carekit.journeys import order_journey
    >>> print(order_journey().to_mermaid().splitlines()[0])
    flowchart LR
"""

from __future__ import annotations

import datetime as dt
import re
from collections import deque
from xml.sax.saxutils import escape, quoteattr

from carekit.journeys.definition import JourneyDefinition, Phase

__all__ = ["format_within", "to_dot", "to_mermaid", "to_svg"]

_MARK = "✉"


def format_within(within: dt.timedelta) -> str:
    """A short duration label: ``"1h"``, ``"4h"``, ``"2d"``, ``"90s"``, ``"1h30m"``.

    Examples:
        >>> import datetime as dt
        >>> format_within(dt.timedelta(minutes=90))
        '1h30m'
    """
    seconds = int(within.total_seconds())
    if seconds == 0:
        return "now"
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return "".join(parts)


def _touchpoint_labels(definition: JourneyDefinition) -> dict[str, list[str]]:
    labels: dict[str, list[str]] = {s.name: [] for s in definition.states}
    for tp in definition.touchpoints:
        if tp.on_enter is not None:
            wait = f"after {format_within(tp.delay)}, " if tp.delay else ""
            labels[tp.on_enter].append(f"{tp.name} ({wait}{format_within(tp.within)})")
    return labels


def _edge_label(definition: JourneyDefinition, event: str) -> str:
    tps = [tp.name for tp in definition.touchpoints if tp.on_event == event]
    return f"{event} {_MARK} {', '.join(tps)}" if tps else event


def _deadline_labels(definition: JourneyDefinition) -> dict[str, list[str]]:
    labels: dict[str, list[str]] = {s.name: [] for s in definition.states}
    for d in definition.deadlines:
        business = " business" if d.calendar is not None else ""
        labels[d.state].append(f"⏱ {format_within(d.within)}{business} → {d.breach_event}")
    return labels


def to_mermaid(definition: JourneyDefinition) -> str:
    """A Mermaid flowchart of ``definition``: one subgraph per phase.

    A flowchart rather than a ``stateDiagram-v2``: Mermaid's state diagrams cannot draw
    transitions between states inside different composite states, and phases are groups
    that transitions cross all the time. States are rounded nodes (node ids are the state
    names prefixed with ``s_``), final states are bold-bordered, states owing a touchpoint
    on entry list it after ✉, deadlines after ⏱.

    Returns:
        The diagram source (no code fence), ending with a newline.
    """
    touchpoints = _touchpoint_labels(definition)
    deadlines = _deadline_labels(definition)
    lines = ["flowchart LR", f"    %% journey: {definition.name}"]
    lines.append('    journey_start(("start"))')
    for phase in Phase:
        members = [s for s in definition.states if s.phase is phase]
        if not members:
            continue
        lines.append(f'    subgraph phase_{phase.value}["{phase.title}"]')
        for state in members:
            text = [state.name]
            text += [f"{_MARK} {label}" for label in touchpoints[state.name]]
            text += deadlines[state.name]
            label = "<br/>".join(text)
            lines.append(f'        s_{state.name}("{label}")')
        lines.append("    end")
    if definition.final_states:
        lines.append('    journey_end(("end"))')
    lines.append(f"    journey_start --> s_{definition.initial}")
    for t in definition.transitions:
        label = _edge_label(definition, t.event)
        lines.append(f'    s_{t.source} -->|"{label}"| s_{t.target}')
    for state in definition.states:
        if state.final:
            lines.append(f"    s_{state.name} --> journey_end")
    touched = [f"s_{s}" for s, tps in touchpoints.items() if tps]
    if touched:
        lines.append("    classDef touchpoint font-weight:bold,stroke-width:3px")
        lines.append(f"    class {','.join(touched)} touchpoint")
    finals = [f"s_{s}" for s in definition.final_states]
    if finals:
        lines.append("    classDef final stroke-width:4px,stroke-dasharray:0")
        lines.append(f"    class {','.join(finals)} final")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_dot(definition: JourneyDefinition) -> str:
    """A Graphviz DOT ``digraph`` of ``definition``.

    Returns:
        The graph source, ending with a newline.
    """
    labels = _touchpoint_labels(definition)
    deadlines = _deadline_labels(definition)
    lines = [
        f"digraph {_dot_quote(definition.name)} {{",
        "    rankdir=LR;",
        '    node [shape=box, style=rounded, fontname="Helvetica"];',
        '    edge [fontname="Helvetica", fontsize=10];',
        "    __start [shape=point, width=0.15];",
    ]
    for phase in Phase:
        members = [s for s in definition.states if s.phase is phase]
        if not members:
            continue
        lines.append(f"    subgraph cluster_{phase.value} {{")
        lines.append(f"        label={_dot_quote(phase.title)};")
        lines.append("        style=dashed;")
        for state in members:
            text = [state.name]
            text += [f"{_MARK} {label}" for label in labels[state.name]]
            text += deadlines[state.name]
            attrs = [f"label={_dot_quote(chr(10).join(text))}"]
            if labels[state.name]:
                attrs.append("penwidth=2")
            if state.final:
                attrs.append("peripheries=2")
            lines.append(f"        {state.name} [{', '.join(attrs)}];")
        lines.append("    }")
    lines.append(f"    __start -> {definition.initial};")
    for t in definition.transitions:
        lines.append(
            f"    {t.source} -> {t.target} [label={_dot_quote(_edge_label(definition, t.event))}];"
        )
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- SVG ----------------------------------------------------------------------------------

_FONT = 12  # px
_CHAR = 7.0  # px: a generous average glyph width at _FONT for sans-serif text
_LINE = 16  # px between text lines
_PAD_X, _PAD_Y = 10, 8  # inside a state box
_COL_GAP, _ROW_GAP = 110, 36  # between layers, between boxes of one layer
_MARGIN = 20
_MARKER_R = 7  # the start and end markers' radius
_BOLD = ' font-weight="bold"'
_PHASE_FILL = {Phase.BEFORE: "#eef4fb", Phase.DURING: "#fdf6e3", Phase.AFTER: "#eef7ee"}


def _layers(definition: JourneyDefinition) -> list[list[str]]:
    # Breadth-first depth from the initial state; states it cannot reach go last. Within a
    # layer, states keep the definition's order, so the picture is stable.
    depth = {definition.initial: 0}
    queue = deque([definition.initial])
    while queue:
        name = queue.popleft()
        for t in definition.transitions:
            if t.source == name and t.target not in depth:
                depth[t.target] = depth[name] + 1
                queue.append(t.target)
    last = max(depth.values()) + 1
    layers: list[list[str]] = [[] for _ in range(last + 1)]
    for state in definition.states:
        layers[depth.get(state.name, last)].append(state.name)
    return [layer for layer in layers if layer]


def _text_width(line: str) -> float:
    return len(line) * _CHAR


def to_svg(definition: JourneyDefinition) -> str:
    """An SVG picture of ``definition``, laid out by carekit itself (no renderer, no network).

    States are boxes in layers from left to right by their distance from the initial state,
    each filled with its phase's colour (a legend names the phases); a state that owes a
    touchpoint on entry has a heavy border and lists it after ✉, a deadline follows ⏱,
    and a final state has a double border and leads to an end marker. Transitions are
    arrows labelled with their event (and ✉ the touchpoints it owes): forward ones
    straight, dashed curves under the boxes for the ones that go back or stay in a layer;
    a self-loop arcs over its state, which lists it after ↻.

    Returns:
        A standalone ``<svg>`` element (UTF-8 text, no XML declaration), ending with a
        newline; its ``id`` attributes carry the journey's name, so several diagrams can
        share one HTML page.

    Examples:
        >>> import xml.etree.ElementTree as ET
        >>> from carekit.journeys import order_journey
        >>> svg = to_svg(order_journey())
        >>> ET.fromstring(svg).tag
        '{http://www.w3.org/2000/svg}svg'
    """
    touchpoints = _touchpoint_labels(definition)
    deadlines = _deadline_labels(definition)
    states = {s.name: s for s in definition.states}
    slug = re.sub(r"[^A-Za-z0-9_-]", "-", definition.name)
    arrow = f"carekit-arrow-{slug}"

    text: dict[str, list[str]] = {}
    size: dict[str, tuple[float, float]] = {}
    for name in states:
        lines = [name]
        lines += [f"{_MARK} {label}" for label in touchpoints[name]]
        lines += deadlines[name]
        lines += [
            f"↻ {_edge_label(definition, t.event)}"
            for t in definition.transitions
            if t.source == name and t.target == name
        ]
        text[name] = lines
        width = max(_text_width(line) for line in lines) + 2 * _PAD_X
        size[name] = (width, len(lines) * _LINE + 2 * _PAD_Y)

    layers = _layers(definition)
    legend_h = _LINE + 12
    loops = any(t.source == t.target for t in definition.transitions)
    top = _MARGIN + legend_h + (22 if loops else 0)
    heights = [sum(size[n][1] for n in layer) + _ROW_GAP * (len(layer) - 1) for layer in layers]
    body_h = max(heights)
    pos: dict[str, tuple[float, float]] = {}  # top-left corner of each box
    x = _MARGIN + 2 * _MARKER_R + _COL_GAP / 2
    for layer, height in zip(layers, heights, strict=True):
        col_w = max(size[n][0] for n in layer)
        y = top + (body_h - height) / 2
        for name in layer:
            w, h = size[name]
            pos[name] = (x + (col_w - w) / 2, y)
            y += h + _ROW_GAP
        x += col_w + _COL_GAP
    layer_of = {name: i for i, layer in enumerate(layers) for name in layer}

    def left(name: str) -> tuple[float, float]:
        return pos[name][0], pos[name][1] + size[name][1] / 2

    def right(name: str) -> tuple[float, float]:
        return pos[name][0] + size[name][0], pos[name][1] + size[name][1] / 2

    def bottom(name: str) -> tuple[float, float]:
        return pos[name][0] + size[name][0] / 2, pos[name][1] + size[name][1]

    shapes: list[str] = []
    labels: list[str] = []

    def label(cx: float, cy: float, words: str) -> None:
        w = _text_width(words) + 6
        labels.append(
            f'<rect x="{cx - w / 2:.1f}" y="{cy - _LINE / 2 - 1:.1f}" width="{w:.1f}" '
            f'height="{_LINE:.1f}" rx="3" fill="#ffffff" fill-opacity="0.9"/>'
            f'<text x="{cx:.1f}" y="{cy + 4:.1f}" text-anchor="middle" '
            f'font-size="{_FONT - 1}">{escape(words)}</text>'
        )

    def line(x1: float, y1: float, x2: float, y2: float) -> None:
        shapes.append(
            f'<path d="M{x1:.1f},{y1:.1f} L{x2:.1f},{y2:.1f}" fill="none" stroke="#444" '
            f'marker-end="url(#{arrow})"/>'
        )

    # Start and end markers: each final state leads to an end marker of its own, at its right.
    start_x, start_y = _MARGIN + _MARKER_R, left(definition.initial)[1]
    shapes.append(f'<circle cx="{start_x:.1f}" cy="{start_y:.1f}" r="{_MARKER_R}" fill="#333"/>')
    line(start_x + _MARKER_R, start_y, *left(definition.initial))
    right_edge = max(pos[n][0] + size[n][0] for n in states)
    for state in definition.states:
        if not state.final:
            continue
        rx, ry = right(state.name)
        end_x = rx + 24 + _MARKER_R
        right_edge = max(right_edge, end_x + _MARKER_R)
        shapes.append(
            f'<circle cx="{end_x:.1f}" cy="{ry:.1f}" r="{_MARKER_R}" fill="#fff" '
            f'stroke="#333" stroke-width="2"/>'
            f'<circle cx="{end_x:.1f}" cy="{ry:.1f}" r="{_MARKER_R - 3}" fill="#333"/>'
        )
        line(rx, ry, end_x - _MARKER_R, ry)

    # Transitions.
    below = top + body_h  # back edges curve under everything, one lane each
    lanes = 0
    for t in definition.transitions:
        words = _edge_label(definition, t.event)
        if t.source == t.target:  # a loop over the box; its label is the box's ↻ line
            bx, by = pos[t.source]
            cx = bx + size[t.source][0] / 2
            shapes.append(
                f'<path d="M{cx - 12:.1f},{by:.1f} C{cx - 24:.1f},{by - 26:.1f} '
                f'{cx + 24:.1f},{by - 26:.1f} {cx + 12:.1f},{by:.1f}" fill="none" '
                f'stroke="#444" marker-end="url(#{arrow})"/>'
            )
        elif layer_of[t.target] > layer_of[t.source]:
            (x1, y1), (x2, y2) = right(t.source), left(t.target)
            line(x1, y1, x2, y2)
            label(x1 + (x2 - x1) / 2, y1 + (y2 - y1) / 2, words)
        else:
            lanes += 1
            lane_y = below + lanes * (_LINE + 10)
            (x1, y1), (x2, y2) = bottom(t.source), bottom(t.target)
            shapes.append(
                f'<path d="M{x1:.1f},{y1:.1f} C{x1:.1f},{lane_y:.1f} {x2:.1f},{lane_y:.1f} '
                f'{x2:.1f},{y2:.1f}" fill="none" stroke="#444" stroke-dasharray="5,3" '
                f'marker-end="url(#{arrow})"/>'
            )
            label((x1 + x2) / 2, (y1 + y2) / 2 * 0.25 + lane_y * 0.75, words)

    # States, over the arrows.
    for name, state in states.items():
        bx, by = pos[name]
        w, h = size[name]
        stroke = "3" if touchpoints[name] else "1.2"
        shapes.append(
            f'<rect x="{bx:.1f}" y="{by:.1f}" width="{w:.1f}" height="{h:.1f}" rx="8" '
            f'fill="{_PHASE_FILL[state.phase]}" stroke="#333" stroke-width="{stroke}"/>'
        )
        if state.final:
            shapes.append(
                f'<rect x="{bx + 3:.1f}" y="{by + 3:.1f}" width="{w - 6:.1f}" '
                f'height="{h - 6:.1f}" rx="6" fill="none" stroke="#333" stroke-width="1"/>'
            )
        tspans = "".join(
            f'<tspan x="{bx + _PAD_X:.1f}" y="{by + _PAD_Y + (i + 1) * _LINE - 4:.1f}"'
            f"{_BOLD if i == 0 else ''}>{escape(words)}</tspan>"
            for i, words in enumerate(text[name])
        )
        shapes.append(f'<text font-size="{_FONT}">{tspans}</text>')

    # The legend: one swatch per phase the journey uses.
    legend = []
    lx = float(_MARGIN)
    for phase in Phase:
        if any(s.phase is phase for s in definition.states):
            legend.append(
                f'<rect x="{lx:.1f}" y="{_MARGIN:.1f}" width="14" height="14" rx="3" '
                f'fill="{_PHASE_FILL[phase]}" stroke="#333"/>'
                f'<text x="{lx + 20:.1f}" y="{_MARGIN + 11:.1f}" '
                f'font-size="{_FONT}">{escape(phase.title)}</text>'
            )
            lx += 20 + _text_width(phase.title) + 24

    width = max(right_edge + _MARGIN, lx + _MARGIN)
    height = below + lanes * (_LINE + 10) + _MARGIN + (_LINE if lanes else 0)
    title = f"journey {definition.name}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" aria-label={quoteattr(title)} '
        f'font-family="Helvetica, Arial, sans-serif" id={quoteattr(f"carekit-journey-{slug}")}>\n'
        f"<title>{escape(title)}</title>\n"
        f'<defs><marker id="{arrow}" viewBox="0 0 10 10" refX="10" refY="5" '
        f'markerWidth="8" markerHeight="8" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>\n'
        + "\n".join(legend + shapes + labels)
        + "\n</svg>\n"
    )
