"""Reading real order tables: cancelled orders, order ids, and one clear error per bad row."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.strategies_promises import histories, order_times

from carekit import CareKitError
from carekit.calendar import BusinessCalendar
from carekit.promises import HistoryError, Order, QuantileEstimator, backtest

UTC = dt.timezone.utc
EVERY_DAY = BusinessCalendar(workdays=range(7), tz="UTC")
T0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def rows(n: int = 40, lead: int = 3) -> list[dict[str, object]]:
    return [{"order_id": f"o{i}", "ordered_at": T0 + dt.timedelta(hours=10 * i),
             "delivered_at": T0 + dt.timedelta(hours=10 * i, days=lead + i % 3),
             "segment": "north"} for i in range(n)]


# -- cancelled orders ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(True, True), (False, False), (None, False), (1, True), (0, False), ("yes", True),
     ("No", False), (" TRUE ", True), ("false", False), ("1", True), ("0", False),
     ("", False), ("y", True), ("n", False)],
)
def test_cancelled_words_a_table_may_hold(value, expected):
    table = rows(3)
    table[1]["cancelled"] = value
    from carekit.promises.promise import read_history

    orders = read_history(table)
    assert [o.cancelled for o in orders] == [False, expected, False]


@pytest.mark.parametrize("value", ["maybe", "canceled", 2, -1, 0.5, "2", ["yes"]])
def test_an_unknown_cancelled_value_names_the_row(value):
    table = rows(5)
    table[3]["cancelled"] = value
    with pytest.raises(HistoryError, match=r"history\[3\]: cancelled must be True or False") as e:
        QuantileEstimator(min_samples=1).fit(table)
    assert e.value.row == 3
    assert isinstance(e.value, CareKitError) and isinstance(e.value, ValueError)


def test_the_order_field_takes_only_true_or_false():
    with pytest.raises(CareKitError, match=r"cancelled must be True or False \(got 'yes'\)"):
        Order(ordered_at=T0, cancelled="yes")  # type: ignore[arg-type]
    assert Order(ordered_at=T0, cancelled=True).cancelled is True


def test_a_cancelled_order_is_left_out_not_censored():
    # 40 orders of 3 to 5 days; ten cancelled orders placed early would, counted as still on
    # their way, stay "at risk" at every lead (the estimate would never reach 95 % and the
    # promise would be the longest time seen). Flagged, they change nothing.
    base = rows(40)
    cancelled = [{"ordered_at": T0 + dt.timedelta(hours=10 * i + 1), "delivered_at": None,
                  "cancelled": "yes", "segment": "north"} for i in range(10)]
    est = QuantileEstimator(quantile=0.95, calibration=0, shrinkage=0, lost_after=None)
    clean = est.fit(base, calendar=EVERY_DAY)
    with_cancelled = est.fit(base + cancelled, calendar=EVERY_DAY)
    assert with_cancelled.lead_times("north") == clean.lead_times("north") == (4, 5)
    assert with_cancelled.left_out == {"cancelled": 10, "lost": 0}
    unflagged = [{**c, "cancelled": False} for c in cancelled]
    swollen = est.fit(base + unflagged, calendar=EVERY_DAY)
    assert swollen.lead_times("north")[1] > 5


def test_backtest_counts_the_cancelled_orders_it_leaves_out():
    base = rows(60)
    extra = [Order(ordered_at=T0 + dt.timedelta(hours=10 * i + 2), cancelled=True,
                   segment="north") for i in range(0, 60, 6)]
    est = QuantileEstimator(quantile=0.9, min_samples=5, calibration=0)
    report = backtest(est, [*base, *extra], calendar=EVERY_DAY)
    plain = backtest(est, base, calendar=EVERY_DAY)
    assert report.cancelled == 10 and plain.cancelled == 0
    assert [o.promised for o in report.outcomes] == [o.promised for o in plain.outcomes]
    assert report.n + report.pending + report.skipped + report.lost == 60
    # with now= the count stops at now too
    cut = backtest(est, [*base, *extra], calendar=EVERY_DAY, now=T0 + dt.timedelta(days=5))
    assert cut.cancelled == sum(o.ordered_at <= T0 + dt.timedelta(days=5) for o in extra)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(min_size=1), order_times, st.integers(min_value=0, max_value=24 * 60),
       st.booleans(), st.sampled_from([None, "north", ("north", "van")]))
def test_adding_a_cancelled_row_never_changes_the_promise(history, at, hours, delivered,
                                                          segment):
    est = QuantileEstimator(min_samples=1, fallback=3)
    placed = T0.replace(year=2025, month=1, day=6) + dt.timedelta(hours=hours)
    row = Order(ordered_at=placed, cancelled=True, segment=segment,
                delivered_at=placed + dt.timedelta(days=2) if delivered else None)
    before = est.fit(history, calendar=EVERY_DAY)
    after = est.fit([*history, row], calendar=EVERY_DAY)
    for seg in (None, "north", "south", ("north", "van")):
        assert after.promise(at, segment=seg) == before.promise(at, segment=seg)


# -- order ids, time zones, impossible rows ---------------------------------------------------


def test_a_repeated_order_id_names_both_rows():
    table = rows(6)
    table[4]["order_id"] = "o1"
    with pytest.raises(HistoryError, match=r"history\[4\]: order_id 'o1' repeats history\[1\]"
                       ) as e:
        QuantileEstimator(min_samples=1).fit(table)
    assert e.value.row == 4
    orders = [Order(ordered_at=T0, order_id="A"), Order(ordered_at=T0, order_id="A")]
    with pytest.raises(HistoryError, match=r"history\[1\]: order_id 'A' repeats history\[0\]"):
        backtest(QuantileEstimator(), orders)


def test_rows_without_ids_are_not_duplicates():
    same = (T0, T0 + dt.timedelta(days=2), None)
    est = QuantileEstimator(min_samples=1, calibration=0).fit([same] * 5, calendar=EVERY_DAY)
    assert est.lead_times() == (2, 2)


def test_mixed_naive_and_aware_times_name_the_row():
    history = [(T0, T0 + dt.timedelta(days=2), None),
               (T0 + dt.timedelta(hours=1), T0 + dt.timedelta(days=3), None),
               (dt.datetime(2026, 1, 6, 9), None, None)]
    with pytest.raises(HistoryError, match=r"history\[2\]: ordered_at is naive .* but "
                       r"history\[0\] is timezone-aware") as e:
        QuantileEstimator().fit(history)
    assert e.value.row == 2
    within = [(T0, dt.datetime(2026, 1, 8, 9), None)]
    with pytest.raises(HistoryError, match=r"history\[0\]: delivered_at is naive .* but this "
                       r"row's ordered_at is timezone-aware"):
        QuantileEstimator().fit(within)
    # all naive: the plain "must be timezone-aware" message, with the row
    with pytest.raises(HistoryError, match=r"history\[0\]: ordered_at must be a timezone-aware"):
        QuantileEstimator().fit([(dt.datetime(2026, 1, 6, 9), None, None)])


def test_a_delivery_before_its_order_names_the_row():
    table = rows(5)
    table[2]["delivered_at"] = T0 - dt.timedelta(days=1)
    with pytest.raises(HistoryError, match=r"history\[2\]: delivered_at must not be before "
                       r"ordered_at") as e:
        QuantileEstimator().fit(table)
    assert e.value.row == 2


def test_a_segment_column_the_rows_lack_names_the_row_and_its_keys():
    # Read as None, a misspelt column would put every order in one segment without a word.
    table = rows(40)
    for row in table:
        row["state"] = row.pop("segment")
    with pytest.raises(HistoryError, match=r"history\[0\] has no 'stat' key, the column "
                       r"segment='stat' names \(its keys: \['delivered_at', 'order_id', "
                       r"'ordered_at', 'state'\]\)") as e:
        QuantileEstimator(segment="stat").fit(table)
    assert e.value.row == 0
    fitted = QuantileEstimator(segment="state", min_samples=1).fit(table)
    assert fitted.fallback_chain("north")[0] == (("north",), 40)
    # a row whose segment cell is None (or the default column, absent) is simply unsegmented
    table[3]["state"] = None
    QuantileEstimator(segment="state", min_samples=1).fit(table)
    QuantileEstimator(min_samples=1).fit(table)


@pytest.mark.parametrize(
    ("history", "message"),
    [([42], r"history\[0\] must be an Order"), ([(T0,)], r"history\[0\] must be an Order"),
     ([{"delivered_at": T0}], r"history\[0\] has no 'ordered_at' key"),
     ({"ordered_at": T0}, "not a mapping"), ("orders.csv", "must be an iterable"),
     ([(T0, None, ["x"])], r"history\[0\]: segment must be hashable"),
     ([{"ordered_at": T0, "order_id": ["x"]}], r"history\[0\]: order_id must be hashable")],
)
def test_malformed_histories(history, message):
    with pytest.raises(HistoryError, match=message):
        QuantileEstimator().fit(history)


def test_nothing_is_dropped_without_being_counted():
    # Every row of a table ends up in exactly one of the report's counts.
    table: list[object] = list(rows(80))
    table += [{"ordered_at": T0 + dt.timedelta(hours=10 * i + 3), "delivered_at": None,
               "cancelled": "1", "segment": "north"} for i in range(0, 80, 9)]
    table += [{"ordered_at": T0 + dt.timedelta(hours=10 * i + 5), "delivered_at": None,
               "segment": "north"} for i in (20, 79)]  # one lost long ago, one in transit
    report = backtest(QuantileEstimator(quantile=0.9, min_samples=10, calibration=0), table,
                      calendar=EVERY_DAY)
    assert report.cancelled == 9
    assert (report.lost, report.pending) == (1, 1)
    assert report.n + report.pending + report.skipped + report.lost + report.cancelled == len(
        table)
    (lost,) = [o for o in report.outcomes if o.lost]
    assert lost.on_time is None and lost.delivered is None
    assert lost.ordered_at == T0 + dt.timedelta(hours=205)


def test_empty_cells_as_pandas_gives_them_are_empty():
    # Regression: DataFrame.to_dict("records") (as the how-to feeds fit) fills a missing
    # delivery with NaT, which fit took for a naive time ("attach the shop's zone"), and a
    # missing cancelled flag or segment with NaN.
    table = rows(40)
    nan = float("nan")
    for i, row in enumerate(table):
        if i % 10 == 3:
            row["delivered_at"] = nan
        if i % 10 == 4:
            row["cancelled"] = nan
        if i % 10 == 5:
            row["segment"] = nan
    fitted = QuantileEstimator(min_samples=1).fit(table)
    assert fitted.left_out["cancelled"] == 0  # NaN: not cancelled
    # 4 rows lost their segment, 4 more are not delivered: 32 deliveries in "north"
    assert fitted.fallback_chain("north")[0] == (("north",), 32)
    table[6]["ordered_at"] = nan
    with pytest.raises(HistoryError, match=r"history\[6\]: ordered_at is missing \(got nan\)"):
        QuantileEstimator().fit(table)
    from tests._extras import need

    pd = need("pandas", "test-extras")
    frame = pd.DataFrame(rows(40))
    frame.loc[3, "delivered_at"] = pd.NaT
    records = frame.to_dict("records")
    assert type(records[3]["delivered_at"]).__name__ == "NaTType"
    assert QuantileEstimator(min_samples=1).fit(records).lead_times() == (
        QuantileEstimator(min_samples=1).fit(
            [dict(r, delivered_at=None) if i == 3 else r for i, r in enumerate(rows(40))]
        ).lead_times())
