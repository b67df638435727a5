"""The built-in journeys: an order, a service case and a store visit.

Each function returns a fresh :class:`~carekit.journeys.JourneyDefinition`; they are also
registered through the ``carekit_register_journeys`` hook by a built-in plugin, so
``CareKit().journeys`` lists them.

Examples:
    >>> from carekit.journeys import order_journey
    >>> [tp.name for tp in order_journey().touchpoints][:4]
    ['order_thanks', 'production_update', 'shipped_with_tracking', 'satisfaction_check']
"""

from __future__ import annotations

import datetime as dt

from carekit.journeys.definition import (
    DEFAULT_MOMENTS,
    BusinessHours,
    Deadline,
    FrictionPolicy,
    JourneyDefinition,
    Phase,
    State,
    Touchpoint,
    Transition,
)

__all__ = ["order_journey", "service_case_journey", "visit_journey"]

_MINUTE = dt.timedelta(minutes=1)
_HOUR = dt.timedelta(hours=1)
_DAY = dt.timedelta(days=1)

#: Order states before ``shipped``: ``cancel`` is allowed in each of them.
ORDER_CANCELLABLE = ("new", "placed", "acknowledged", "in_production", "production_nearly_done")


def order_journey() -> JourneyDefinition:
    """The order journey: thank, update, ship with tracking, check satisfaction.

    States (happy path): ``new`` -place-> ``placed`` -acknowledge-> ``acknowledged``
    -start_production-> ``in_production`` -near_completion-> ``production_nearly_done``
    -ship-> ``shipped`` -deliver-> ``delivered`` -follow_up-> ``followed_up`` -close->
    ``closed``; ``cancel`` from any state before ``shipped`` leads to ``cancelled``.

    * ``ship`` requires ``data={"tracking_number": ...}``; the ``shipped_with_tracking``
      touchpoint carries it in its ``data``.
    * The order must be acknowledged within one hour of placing: a deadline on ``placed``
      whose breach event ``acknowledgement_overdue`` may be applied (it adds friction).
    * ``promise_at_risk`` (a self-loop allowed up to ``shipped``) owes the proactive
      ``promise_at_risk_notice`` on the customer's preferred channel.

    * ``cancel`` withdraws every touchpoint owed and not yet sent (the ``cancelled`` state
      has ``withdraws=True``): a cancelled order gets no "thank you for your order".

    Touchpoints: ``order_thanks`` (on acknowledged, within 1 h), ``production_update`` (on
    production_nearly_done, within 4 h), ``shipped_with_tracking`` (on shipped, within 1 h),
    ``satisfaction_check`` (on delivered: not before two days have passed, then within a
    day) and ``promise_at_risk_notice``.

    Returns:
        The definition, named ``"order"``.
    """
    before, during, after = Phase.BEFORE, Phase.DURING, Phase.AFTER
    states = [
        State(name="new", phase=before),
        State(name="placed", phase=during),
        State(name="acknowledged", phase=during),
        State(name="in_production", phase=during),
        State(name="production_nearly_done", phase=during),
        State(name="shipped", phase=during),
        State(name="delivered", phase=after),
        State(name="followed_up", phase=after),
        State(name="closed", phase=after, final=True),
        State(name="cancelled", phase=after, final=True, withdraws=True),
    ]
    path = [
        ("place", "new", "placed"),
        ("acknowledge", "placed", "acknowledged"),
        ("start_production", "acknowledged", "in_production"),
        ("near_completion", "in_production", "production_nearly_done"),
        ("ship", "production_nearly_done", "shipped"),
        ("deliver", "shipped", "delivered"),
        ("follow_up", "delivered", "followed_up"),
        ("close", "followed_up", "closed"),
    ]
    transitions = [
        Transition(
            event=e, source=s, target=t, requires=("tracking_number",) if e == "ship" else ()
        )
        for e, s, t in path
    ]
    transitions += [
        Transition(event="cancel", source=s, target="cancelled") for s in ORDER_CANCELLABLE
    ]
    transitions += [
        Transition(event="promise_at_risk", source=s, target=s)
        for s in (*ORDER_CANCELLABLE, "shipped")
    ]
    transitions.append(
        Transition(event="acknowledgement_overdue", source="placed", target="placed")
    )
    touchpoints = [
        Touchpoint(name="order_thanks", on_enter="acknowledged", within=_HOUR),
        Touchpoint(name="production_update", on_enter="production_nearly_done", within=4 * _HOUR),
        Touchpoint(name="shipped_with_tracking", on_enter="shipped", within=_HOUR),
        Touchpoint(
            name="satisfaction_check", on_enter="delivered", within=_DAY, delay=2 * _DAY
        ),
        Touchpoint(name="promise_at_risk_notice", on_event="promise_at_risk", within=_HOUR),
    ]
    deadlines = [Deadline(state="placed", within=_HOUR, breach_event="acknowledgement_overdue")]
    return JourneyDefinition(
        name="order",
        description="An order from placing to follow-up: thank, update, ship, check in",
        states=states,
        transitions=transitions,
        touchpoints=touchpoints,
        deadlines=deadlines,
        friction=FrictionPolicy(moments={**DEFAULT_MOMENTS, "acknowledgement_overdue": 1.0}),
    )


def _default_business_hours() -> BusinessHours | None:
    try:
        from carekit.calendar import BusinessCalendar
    except ImportError:  # pragma: no cover - the calendar ships with carekit
        return None
    calendar: BusinessHours = BusinessCalendar()
    return calendar


def service_case_journey(calendar: BusinessHours | None = None) -> JourneyDefinition:
    """A service case: opened, first response within one business hour, resolved, followed up.

    States: ``opened`` -respond-> ``responded`` -resolve-> ``resolved`` -follow_up->
    ``followed_up`` -close-> ``closed``; ``reopen`` from ``resolved``, ``followed_up`` or
    ``closed`` goes back to ``responded``; ``customer_contact`` (a self-loop while the case
    is open) records a repeated contact and adds friction.

    The first response is owed within one business hour: a deadline on ``opened`` counted
    on ``calendar`` (breach event ``first_response_overdue``, a self-loop that adds
    friction). Touchpoints: ``case_received`` (on opened, within 5 minutes),
    ``resolution_summary`` (on resolved, within 1 h), ``case_survey`` (on followed_up,
    within 1 day).

    Args:
        calendar: business hours for the first-response deadline; default: a
            :class:`carekit.calendar.BusinessCalendar` with its default opening hours.

    Returns:
        The definition, named ``"service_case"``.
    """
    hours = calendar if calendar is not None else _default_business_hours()
    before, during, after = Phase.BEFORE, Phase.DURING, Phase.AFTER
    states = [
        State(name="opened", phase=before),
        State(name="responded", phase=during),
        State(name="resolved", phase=after),
        State(name="followed_up", phase=after),
        State(name="closed", phase=after, final=True),
    ]
    transitions = [
        Transition(event="respond", source="opened", target="responded"),
        Transition(event="resolve", source="responded", target="resolved"),
        Transition(event="follow_up", source="resolved", target="followed_up"),
        Transition(event="close", source="followed_up", target="closed"),
        Transition(event="close", source="resolved", target="closed"),
        Transition(event="first_response_overdue", source="opened", target="opened"),
        Transition(event="customer_contact", source="opened", target="opened"),
        Transition(event="customer_contact", source="responded", target="responded"),
    ]
    transitions += [
        Transition(event="reopen", source=s, target="responded")
        for s in ("resolved", "followed_up", "closed")
    ]
    touchpoints = [
        Touchpoint(name="case_received", on_enter="opened", within=5 * _MINUTE),
        Touchpoint(name="resolution_summary", on_enter="resolved", within=_HOUR),
        Touchpoint(name="case_survey", on_enter="followed_up", within=_DAY),
    ]
    deadlines = [
        Deadline(
            state="opened", within=_HOUR, breach_event="first_response_overdue", calendar=hours
        )
    ]
    return JourneyDefinition(
        name="service_case",
        description="A service case: first response within one business hour, then resolve",
        states=states,
        transitions=transitions,
        touchpoints=touchpoints,
        deadlines=deadlines,
        friction=FrictionPolicy(
            moments={**DEFAULT_MOMENTS, "first_response_overdue": 1.0, "customer_contact": 1.0}
        ),
    )


def visit_journey() -> JourneyDefinition:
    """A store visit: before contact, during the visit, after it.

    Before contact: ``browsing`` -reach_out-> ``reached_out``. During the visit:
    -arrive-> ``arrived`` -greet-> ``greeted`` -assist-> ``assisted`` -purchase->
    ``purchased``, or -leave-> ``left`` from arrived, greeted or assisted. After it:
    -follow_up-> ``followed_up`` (final).

    A shopper must be greeted within a minute of arrival: a deadline on ``arrived`` (breach
    event ``greeting_overdue``, a self-loop that counts as a long wait). Touchpoints:
    ``reply`` (on reached_out, within 1 h), ``purchase_thanks`` (on purchased, within
    1 day), ``visit_follow_up`` (on left, within 2 days).

    Returns:
        The definition, named ``"visit"``.
    """
    before, during, after = Phase.BEFORE, Phase.DURING, Phase.AFTER
    states = [
        State(name="browsing", phase=before),
        State(name="reached_out", phase=before),
        State(name="arrived", phase=during),
        State(name="greeted", phase=during),
        State(name="assisted", phase=during),
        State(name="purchased", phase=during),
        State(name="left", phase=during),
        State(name="followed_up", phase=after, final=True),
    ]
    transitions = [
        Transition(event="reach_out", source="browsing", target="reached_out"),
        Transition(event="arrive", source="browsing", target="arrived"),
        Transition(event="arrive", source="reached_out", target="arrived"),
        Transition(event="greet", source="arrived", target="greeted"),
        Transition(event="greeting_overdue", source="arrived", target="arrived"),
        Transition(event="assist", source="greeted", target="assisted"),
        Transition(event="purchase", source="greeted", target="purchased"),
        Transition(event="purchase", source="assisted", target="purchased"),
        Transition(event="follow_up", source="purchased", target="followed_up"),
        Transition(event="follow_up", source="left", target="followed_up"),
    ]
    transitions += [
        Transition(event="leave", source=s, target="left")
        for s in ("arrived", "greeted", "assisted")
    ]
    touchpoints = [
        Touchpoint(name="reply", on_enter="reached_out", within=_HOUR),
        Touchpoint(name="purchase_thanks", on_enter="purchased", within=_DAY),
        Touchpoint(name="visit_follow_up", on_enter="left", within=2 * _DAY),
    ]
    deadlines = [Deadline(state="arrived", within=_MINUTE, breach_event="greeting_overdue")]
    return JourneyDefinition(
        name="visit",
        description="A store visit: reach out, greet within a minute, assist, follow up",
        states=states,
        transitions=transitions,
        touchpoints=touchpoints,
        deadlines=deadlines,
        friction=FrictionPolicy(moments={**DEFAULT_MOMENTS, "greeting_overdue": 1.0}),
    )
