"""NPS, CSAT and CES against published cases and exact arithmetic."""

from __future__ import annotations

import math
from array import array
from fractions import Fraction

import pytest
from tests._extras import need

from carekit import CareKitError
from carekit.metrics import CES, CSAT, NPS, Comparison, Estimate


# Values from the test suite of Brendan Rocks' R package NPS (github.com/brendan-r/NPS,
# tests/testthat/test_01_basics.R): nps(), nps_var() and nps_se() on raw scores, NPS on -1..1.
@pytest.mark.parametrize(
    ("scores", "nps", "variance", "se"),
    [
        ([0, 7, 7, 9, 9, 9], 1 / 3, 5 / 9, 0.304),
        ([0], -1.0, 0.0, 0.0),
        ([10], 1.0, 0.0, 0.0),
        ([7], 0.0, 0.0, 0.0),
        ([1, 9], 0.0, 1.0, 0.707),
        ([7, 9], 0.5, 0.25, 0.354),
        ([0, 7, 9], 0.0, 2 / 3, 0.471),
    ],
)
def test_nps_point_variance_and_se_match_rocks_package(
    scores: list[int], nps: float, variance: float, se: float
) -> None:
    acc = NPS().extend(scores)
    assert acc.result(scale=1).value == pytest.approx(nps)
    assert acc.score == pytest.approx(100 * nps)
    assert acc.variance == pytest.approx(variance)
    assert acc.standard_error == pytest.approx(se, abs=1e-3)  # the R tests use tolerance 0.001


def test_nps_counts_categories() -> None:
    acc = NPS().extend(range(11))
    assert (acc.detractors, acc.passives, acc.promoters, acc.n) == (7, 2, 2, 11)
    assert acc.counts == dict.fromkeys(range(11), 1)


def _exact_adjusted_wald(prom: int, det: int, n: int, z: float) -> tuple[float, float]:
    # Rocks (2016), The American Statistician 70(4), section 3: add 3/4 promoter,
    # 3/2 passive and 3/4 detractor, then the Wald interval (the same recipe as Sauro and
    # Lewis, "Confidence Intervals for Net Promoter Scores", MeasuringU: n + 3, 3/4 to the
    # detractors and 3/4 to the promoters). Exact fractions up to the sqrt.
    p = (Fraction(prom) + Fraction(3, 4)) / (n + 3)
    d = (Fraction(det) + Fraction(3, 4)) / (n + 3)
    var = p + d - (p - d) ** 2
    half = z * math.sqrt(var / (n + 3))
    return (max(-1.0, float(p - d) - half), min(1.0, float(p - d) + half))


@pytest.mark.parametrize(("prom", "pas", "det"), [(60, 25, 15), (1, 0, 0), (0, 0, 3), (5, 5, 5)])
def test_adjusted_wald_interval_matches_exact_formula(prom: int, pas: int, det: int) -> None:
    acc = NPS().extend([10] * prom + [8] * pas + [2] * det)
    e = acc.result(scale=1)
    low, high = _exact_adjusted_wald(prom, det, prom + pas + det, 1.959963984540054)
    assert (e.low, e.high) == (pytest.approx(low, abs=1e-12), pytest.approx(high, abs=1e-12))
    assert e.method == "adjusted_wald"
    assert e.value == pytest.approx((prom - det) / (prom + pas + det))


def test_wald_interval_is_point_plus_minus_z_se() -> None:
    acc = NPS().extend([0, 7, 7, 9, 9, 9])
    e = acc.result(method="wald", scale=1)
    half = 1.959963984540054 * math.sqrt((5 / 9) / 6)
    assert e.low == pytest.approx(1 / 3 - half)
    assert e.high == pytest.approx(1 / 3 + half)


def test_tiny_samples_get_honest_wide_intervals() -> None:
    one = NPS().add(10).result()
    assert one.n == 1 and one.value == 100.0
    assert one.low is not None and one.low < 0  # one promoter says little
    all_promoters = NPS().extend([10] * 5).result()
    assert all_promoters.low is not None and all_promoters.low < 60
    # plain Wald collapses to a point: that is why adjusted Wald is the default
    wald = NPS().extend([10] * 5).result(method="wald")
    assert wald.low == wald.high == 100.0


def test_empty_nps_says_no_data() -> None:
    e = NPS().result()
    assert e == Estimate(None, None, None, 0, confidence=0.95, method="adjusted_wald")
    assert e.empty and str(e) == "no data (n = 0)"
    assert NPS().score is None and NPS().variance is None


def test_estimate_formats_value_and_interval_with_a_spec() -> None:
    e = Estimate(34.4384, 28.7112, 39.6521, 730, confidence=0.95)
    assert f"{e:.1f}" == "34.4 (95% CI 28.7 to 39.7, n = 730)"
    assert f"{Estimate(0.8125, 0.75, 0.875, 48, confidence=0.9):.1%}" == (
        "81.2% (90% CI 75.0% to 87.5%, n = 48)")
    assert f"{e}" == format(e, "") == str(e)
    assert f"{NPS().result():.1f}" == "no data (n = 0)"
    with pytest.raises(ValueError, match="format code 'd'"):
        f"{e:d}"


def test_a_comparison_formats_its_difference_and_interval_with_a_spec() -> None:
    # Regression: f"{comparison:.1f}" raised a plain TypeError, as Estimate's did.
    c = Comparison(5.04, -1.2, 11.28, 0.1234)
    assert f"{c:.1f}" == "+5.0 (95% CI -1.2 to +11.3, p = 0.123)"
    assert f"{Comparison(-0.052, -0.114, 0.01, 0.12):.1%}" == (
        "-5.2% (95% CI -11.4% to +1.0%, p = 0.12)")
    assert f"{c:-.1f}" == "5.0 (95% CI -1.2 to 11.3, p = 0.123)"  # a sign of its own
    assert f"{c}" == format(c, "") == str(c)
    with pytest.raises(ValueError, match="format code 'd'"):
        f"{c:d}"


@pytest.mark.parametrize("bad", [11, -1, 3.5, "9", None, True])
def test_score_outside_scale_names_score_and_scale(bad: object) -> None:
    with pytest.raises(CareKitError, match=r"0\.\.10 scale") as err:
        NPS().add(bad)
    assert repr(bad) in str(err.value)


def test_the_two_usual_slips_get_a_hint() -> None:
    # Regression: "NPS scores must be whole numbers on the 0..10 scale (got '10')" read as a
    # contradiction, and a whole CSV record was printed in full with no word of value=.
    rows = [{"store": "north", "nps": "10", "note": "x" * 500}, {"store": "south", "nps": "3"}]
    with pytest.raises(CareKitError) as err:
        NPS().extend(r["nps"] for r in rows)
    assert str(err.value) == (
        "NPS scores must be whole numbers on the 0..10 scale (got '10'); it is text: convert "
        "each cell first, e.g. int(r['nps'])")
    with pytest.raises(CareKitError) as err:
        NPS().by(lambda r: r["store"]).extend(rows)
    text = str(err.value)
    assert text.endswith("; that is a whole record: pass each record's value, or segment "
                         "records with by(key, value=lambda r: int(r['nps']))")
    assert len(text) < 250
    from carekit.metrics import FirstContactResolution

    with pytest.raises(CareKitError, match=r"resolved must be True or False \(got 'yes'\); "
                       r"it is text: convert each cell first, e.g. r\['resolved'\] == 'yes'"):
        FirstContactResolution().add("yes")
    assert NPS().extend(int(r["nps"]) for r in rows).n == 2
    # a skipped answer, as pandas holds it in a column of scores
    with pytest.raises(CareKitError, match=r"\(got nan\); an empty answer\? leave empty ones "
                       r"out \(with pandas: \.dropna\(\)\)$"):
        NPS().extend([9.0, float("nan"), 10.0])


def test_extend_with_a_bad_score_adds_nothing_and_names_it() -> None:
    acc = NPS().extend([9, 10])
    with pytest.raises(CareKitError, match=r"\(got 12\)"):
        acc.extend([1, 2, 12, 3])
    assert acc.n == 2
    with pytest.raises(CareKitError, match=r"\(got -1\)"):
        acc.extend(array("b", [1, -1]))
    with pytest.raises(CareKitError, match=r"\(got 11\)"):
        acc.extend(bytes([11]))
    # add() refuses booleans; so does extend(), from lists and tuples (and numpy bool arrays:
    # test_numpy_arrays_are_checked_and_take_the_fast_path).
    for bools in ([9, True, 10], (False,)):
        with pytest.raises(CareKitError, match=r"\(got (True|False)\)"):
            acc.extend(bools)
    with pytest.raises(CareKitError, match=r"1\.\.5 scale \(got True\)"):
        CSAT().extend([5, True])
    assert acc.n == 2


def test_fast_paths_agree_with_add() -> None:
    scores = [s % 11 for s in range(500)]
    expected = NPS()
    for s in scores:
        expected.add(s)
    assert NPS().extend(scores) == expected
    assert NPS().extend(tuple(scores)) == expected
    assert NPS().extend(iter(scores)) == expected
    assert NPS().extend(bytes(scores)) == expected
    assert NPS().extend(bytearray(scores)) == expected
    assert NPS().extend(array("b", scores)) == expected
    assert NPS().extend(array("i", scores)) == expected
    assert NPS().extend([float(s) for s in scores]) == expected  # whole floats, e.g. from CSV


def test_numpy_arrays_are_checked_and_take_the_fast_path() -> None:
    np = need("numpy", "test-extras")
    scores = [s % 11 for s in range(500)]
    expected = NPS().extend(scores)
    assert NPS().extend(np.array(scores, dtype=np.int64)) == expected
    assert NPS().extend(np.array(scores, dtype=np.int8)) == expected
    acc = NPS().extend([9, 10])
    with pytest.raises(CareKitError, match=r"\(got 9\.5\)"):
        acc.extend(np.array([9.5]))
    with pytest.raises(CareKitError, match=r"\(got (True|False)\)"):
        acc.extend(np.array([True, False]))
    assert acc.n == 2


def test_nps_result_validates_arguments() -> None:
    acc = NPS().extend([9, 10])
    with pytest.raises(CareKitError, match="confidence"):
        acc.result(confidence=1.0)
    with pytest.raises(CareKitError, match="method"):
        acc.result(method="bootstrap")  # type: ignore[arg-type]
    with pytest.raises(CareKitError, match="scale"):
        acc.result(scale=10)  # type: ignore[arg-type]


# CSAT worked example from Delighted's help centre, "How is CSAT calculated?"
# (help.delighted.com/article/240-how-is-csat-calculated): 42 fives, 32 fours, 10 threes,
# 9 twos and 14 ones give 74 satisfied of 107, CSAT 69.16 %.
def test_csat_matches_delighted_worked_example() -> None:
    acc = CSAT().extend([5] * 42 + [4] * 32 + [3] * 10 + [2] * 9 + [1] * 14)
    e = acc.result()
    assert (acc.satisfied, e.n) == (74, 107)
    assert round(100 * e.value, 2) == 69.16
    assert e.method == "wilson"
    assert e.low is not None and e.high is not None and e.low < e.value < e.high


def test_csat_scale_and_threshold() -> None:
    acc = CSAT(scale=10, satisfied_from=9).extend([10, 9, 8, 1])
    assert acc.result().value == 0.5
    assert acc.mean == 7.0
    with pytest.raises(CareKitError, match=r"1\.\.10 scale \(got 0\)"):
        acc.add(0)
    with pytest.raises(CareKitError, match="scale"):
        CSAT(scale=1)
    with pytest.raises(CareKitError, match="satisfied_from"):
        CSAT(scale=5, satisfied_from=6)
    with pytest.raises(CareKitError, match="different settings"):
        CSAT().merge(CSAT(scale=7))


def test_ces_mean_and_student_t_interval() -> None:
    scores = [6, 7, 5, 6, 7, 4, 6]
    e = CES().extend(scores).result()
    mean = sum(scores) / 7
    sd = math.sqrt(sum((x - mean) ** 2 for x in scores) / 6)
    # t(0.975, 6) = 2.447 (NIST/SEMATECH e-Handbook, table 1.3.6.7.2)
    assert e.value == pytest.approx(mean)
    assert e.low == pytest.approx(mean - 2.446912 * sd / math.sqrt(7), abs=1e-5)
    assert e.high == pytest.approx(mean + 2.446912 * sd / math.sqrt(7), abs=1e-5)
    assert e.method == "student_t"


def test_ces_tiny_samples_are_honest() -> None:
    assert CES().add(5).result() == Estimate(5.0, 1.0, 7.0, 1, method="student_t")
    two = CES(scale=5).extend([1, 5]).result()
    assert (two.low, two.high) == (1.0, 5.0)  # clipped to the scale, not beyond
    assert CES().result().value is None
    with pytest.raises(CareKitError, match=r"CES scores .* 1\.\.7 scale \(got 8\)"):
        CES().add(8)


@pytest.mark.parametrize("bad", [None, 5, 3.5])
def test_extend_needs_an_iterable(bad: object) -> None:
    from carekit.metrics import CES, CSAT, NPS, QuantileSketch, ResponseTime

    for accumulator in (NPS(), CSAT(), CES(), ResponseTime(), QuantileSketch()):
        with pytest.raises(CareKitError, match=r"values must be an iterable .*\(got "):
            accumulator.extend(bad)  # type: ignore[arg-type]
