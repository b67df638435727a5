import datetime as dt

import pytest

from carekit import CareKitError
from carekit.staffing import ServiceTarget


def test_contract_arguments_may_be_positional() -> None:
    # The public contract: Workload(volume, aht, interval, patience=None, concurrency=1),
    # ServiceTarget(service_level, answer_within, max_occupancy=None),
    # Requirement(agents, scheduled, performance).
    import datetime as _dt

    from carekit.staffing import ServiceTarget, Workload, required_agents

    half_hour = _dt.timedelta(minutes=30)
    assert Workload(100, 180, half_hour) == Workload(volume=100, aht=180, interval=half_hour)
    assert Workload(100, 180, half_hour, 60, 2) == Workload(
        volume=100, aht=180, interval=half_hour, patience=60, concurrency=2
    )
    assert ServiceTarget(0.8, 20, 0.85) == ServiceTarget(
        service_level=0.8, answer_within=20, max_occupancy=0.85
    )
    need = required_agents(Workload(100, 180, half_hour), ServiceTarget(0.8, 20))
    agents, scheduled, performance = need.agents, need.scheduled, need.performance
    assert type(need)(agents, scheduled, performance) == need


def test_a_concurrency_too_large_for_the_arithmetic_is_refused() -> None:
    # concurrency=10**400 used to pass and then raise OverflowError in required_agents/plan.
    import datetime as _dt

    import pytest

    from carekit import CareKitError
    from carekit.staffing import ServiceTarget, Workload, plan, required_agents

    for too_many in (10**400, 10**15 + 1):
        with pytest.raises(CareKitError, match=r"concurrency must be an integer from 1 to "
                           r"1,000,000,000,000,000 \(got 10000000000"):
            Workload(120, 300, 1800, concurrency=too_many)
    nine = _dt.datetime(2025, 3, 3, 9, tzinfo=_dt.timezone.utc)
    with pytest.raises(CareKitError, match="concurrency must be an integer from 1 to"):
        plan([(nine, 5)], aht=300, target=ServiceTarget(0.8, 20), concurrency=10**400)
    most = Workload(120, 300, 1800, concurrency=10**15)
    assert required_agents(most, ServiceTarget(0.8, 20)).agents == 1


@pytest.mark.parametrize(("text", "level", "seconds"), [
    ("80/20", 0.8, 20),
    ("80%/20s", 0.8, 20),  # as planners write it
    ("80 % / 20 sec", 0.8, 20),
    ("90/1min", 0.9, 60),
    ("90/1.5h", 0.9, 5400),
])
def test_parse_takes_the_percent_sign_and_a_unit(text: str, level: float, seconds: int) -> None:
    # Regression: "80%/20s" was refused as not looking like PERCENT/SECONDS.
    target = ServiceTarget.parse(text)
    assert target.service_level == level
    assert target.answer_within == dt.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["80/", "80/s", "80/1d", "80", "x/20", "80/20/3"])
def test_parse_refuses_what_is_not_a_target(text: str) -> None:
    with pytest.raises(CareKitError, match=r"must look like PERCENT/SECONDS, e\.g\. '80/20' "
                       r"\(or '80%/20s', '90/1h'\)"):
        ServiceTarget.parse(text)
