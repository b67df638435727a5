"""Accumulators as the unit of work on Dask: per-store NPS and response-time quantiles."""

from __future__ import annotations

import csv
import datetime as dt
import importlib.resources
import operator
from functools import reduce
from typing import Any

from tests._extras import need

from carekit.metrics import NPS, ResponseTime

dask = need("dask", "dask")
db = need("dask.bag", "dask")


def _rows() -> list[dict[str, Any]]:
    source = importlib.resources.files("carekit") / "data" / "metrics_responses.csv"
    with source.open("r", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    for r in rows:
        r["nps"] = int(r["nps"])
        received = dt.datetime.fromisoformat(r["received_at"])
        responded = dt.datetime.fromisoformat(r["first_response_at"])
        r["response_seconds"] = (responded - received).total_seconds()
    return rows


def _one_process(rows: list[dict[str, Any]]) -> tuple[Any, Any]:
    store, score = operator.itemgetter("store"), operator.itemgetter("nps")
    nps = NPS().by(store, value=score).extend(rows)
    rt = ResponseTime().by(store, value=operator.itemgetter("response_seconds")).extend(rows)
    return nps, rt


def test_bag_foldby_equals_one_process() -> None:
    rows = _rows()
    bag = db.from_sequence(rows, npartitions=7)
    with dask.config.set(scheduler="synchronous"):
        nps = dict(bag.foldby(
            "store",
            lambda acc, row: acc.add(row["nps"]),
            NPS,  # a class is a callable initial value: a fresh accumulator per key
            lambda a, b: a.merge(b),
            NPS,
        ).compute())
        rt = dict(bag.foldby(
            "store",
            lambda acc, row: acc.add(row["response_seconds"]),
            ResponseTime,
            lambda a, b: a.merge(b),
            ResponseTime,
        ).compute())
    want_nps, want_rt = _one_process(rows)
    assert nps == dict(want_nps)
    assert rt == dict(want_rt)
    assert {k: v.result() for k, v in nps.items()} == want_nps.result()
    assert {k: v.p90 for k, v in rt.items()} == {k: v.p90 for k, v in want_rt.items()}


def test_dataframe_partitions_equal_one_process() -> None:
    pd = need("pandas", "dask")
    dd = need("dask.dataframe", "dask")
    rows = _rows()
    frame = pd.DataFrame(rows)[["store", "nps", "response_seconds"]]
    ddf = dd.from_pandas(frame, npartitions=5)

    def partial(part: Any) -> tuple[Any, Any]:
        # One partition -> one segmented accumulator per metric (extend takes the column).
        nps = NPS().by(operator.itemgetter(0), value=operator.itemgetter(1))
        nps.extend(zip(part["store"], part["nps"], strict=True))
        rt = ResponseTime().by(operator.itemgetter(0), value=operator.itemgetter(1))
        rt.extend(zip(part["store"], part["response_seconds"], strict=True))
        return nps, rt

    parts = [dask.delayed(partial)(p) for p in ddf.to_delayed()]
    total = dask.delayed(lambda ps: reduce(
        lambda a, b: (a[0].merge(b[0]), a[1].merge(b[1])), ps))(parts)
    with dask.config.set(scheduler="synchronous"):
        nps, rt = total.compute()
    want_nps, want_rt = _one_process(rows)
    assert nps == want_nps and rt == want_rt
