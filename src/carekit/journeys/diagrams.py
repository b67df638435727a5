"""Draw journey definitions as Mermaid or Graphviz DOT diagrams.

Phases become groups (Mermaid subgraphs, DOT clusters); states that owe a touchpoint on
entry are marked with ✉ and list the touchpoints, deadlines are marked with ⏱; final states
lead to the end marker.

Examples:
    >>> from carekit.journeys import order_journey
    >>> print(order_journey().to_mermaid().splitlines()[0])
    flowchart LR
"""

from __future__ import annotations

import datetime as dt

from carekit.journeys.definition import JourneyDefinition, Phase

__all__ = ["format_within", "to_dot", "to_mermaid"]

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
