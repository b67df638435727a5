"""Floating-point kernels for the Erlang formulas (private).

Everything here works on plain floats with the standard library only and is written so that
no intermediate overflows, underflows into a NaN, or loses precision through cancellation:

* Poisson probabilities at real arguments use Loader's saddle-point form
  (C. Loader, "Fast and accurate computation of binomial probabilities", 2000), which keeps
  full relative precision where ``a*log(z) - z - lgamma(a+1)`` would cancel.
* Erlang B uses the classic inverse recursion for up to 100 servers and, above that, the
  incomplete-gamma relation ``B = p(n; a) / P(X <= n)`` with ``X ~ Poisson(a)``. From 5,000
  servers near the load ``P(X <= n)`` comes from Temme's uniform asymptotic expansion in a
  fixed number of terms (constant time); elsewhere from positive series whose terms shrink
  geometrically away from the load (no factorials, nothing restarted per candidate).
* The regularized incomplete gamma function uses its power series below the transition and
  Legendre's continued fraction (modified Lentz) above it (Numerical Recipes, 3rd ed., 6.2).
* Erlang A (M/M/n+M) follows Mandelbaum & Zeltyn, "The Palm/Erlang-A queue, with
  applications to call centers" (2007), derived for the customers who are served.
* Sums of smooth log-concave terms that would run to tens of thousands of terms (loads or
  patience-to-handle-time ratios in the millions) are done as midpoint-rule quadratures
  over a window around their largest term, with Richardson extrapolation in the cell width
  where they start among large terms (Euler-Maclaurin): a few thousand evaluations at
  most, whatever the size, so nothing grows with the load.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

__all__ = [
    "erlang_a",
    "erlang_b",
    "erlang_b_down",
    "erlang_b_up",
    "erlang_c_from_b",
    "log_m",
    "log_poisson",
]

_LN_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_RECURSION_MAX = 100
_TINY = 1e-300
_EPS = 1e-17
_RESCALE = 1e250
_HUGE = 4e307
#: ints up to this convert to float exactly
_EXACT_INT = 2**53
#: the smallest int that float() cannot convert
_OVERFLOW_N = 2**1024 - 2**970


def _stirlerr(n: float) -> float:
    """``log(n!) - log(sqrt(2*pi*n) * (n/e)**n)`` for ``n > 0``."""
    if n < 15.0:
        return math.lgamma(n + 1.0) - (n + 0.5) * math.log(n) + n - _LN_SQRT_2PI
    nn = n * n
    return (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / (1188 * nn)) / nn) / nn) / nn) / n


def _bd0(x: float, m: float) -> float:
    """``x*log(x/m) + m - x`` without cancellation when ``x`` is close to ``m`` (Loader 2000)."""
    if x > _HUGE or m > _HUGE:
        # homogeneous of degree one: scale down so that x + m and 2 x cannot overflow
        return 4.0 * _bd0(0.25 * x, 0.25 * m)
    if abs(x - m) < 0.1 * (x + m):
        v = (x - m) / (x + m)
        s = (x - m) * v
        ej = 2.0 * x * v
        v2 = v * v
        j = 1
        while True:
            ej *= v2
            j += 2
            s1 = s + ej / j
            if s1 == s:
                return s1
            s = s1
    return x * math.log(x / m) + m - x


def log_poisson(a: float, z: float) -> float:
    """``log(z**a * exp(-z) / Gamma(a + 1))`` for real ``a >= 0``, ``z >= 0``."""
    if z == 0.0:
        return 0.0 if a == 0.0 else -math.inf
    if a == 0.0:
        return -z
    return -_stirlerr(a) - _bd0(a, z) - _LN_SQRT_2PI - 0.5 * math.log(a)


def _gamma_cf(a: float, z: float) -> float:
    """Continued fraction ``h`` with ``Q(a, z) = a * p(a; z) * h``, for ``z > a + 1``."""
    b = z + 1.0 - a
    c = 1.0 / _TINY
    d = 1.0 / b
    h = d
    limit = 1000 + int(50.0 * math.sqrt(a))
    for i in range(1, limit):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _TINY:
            d = _TINY
        c = b + an / c
        if abs(c) < _TINY:
            c = _TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 2e-16:
            break
    return h


def _series_m(a: float, z: float) -> float:
    """``sum_j z**j / ((a+1)...(a+j))`` for ``z <= a + 1`` (terms never grow)."""
    total = 1.0
    term = 1.0
    k = a
    while True:
        # eight terms per check: the loop overhead dominates in CPython
        t1 = term * z / (k + 1.0)
        t2 = t1 * z / (k + 2.0)
        t3 = t2 * z / (k + 3.0)
        t4 = t3 * z / (k + 4.0)
        t5 = t4 * z / (k + 5.0)
        t6 = t5 * z / (k + 6.0)
        t7 = t6 * z / (k + 7.0)
        term = t7 * z / (k + 8.0)
        k += 8.0
        total += ((t1 + t2) + (t3 + t4)) + ((t5 + t6) + (t7 + term))
        if term <= total * _EPS:
            return total


#: a direct sum expected to need more terms than this is replaced by :func:`_lattice_sum`
_DIRECT_TERMS = 20_000
#: above this parameter ``log_m`` leaves the continued fraction near its transition
_CF_MAX = 1e8
#: log of a term, relative to the largest, below which it no longer counts (e**-50 ~ 2e-22)
_CUT = 50.0
#: cells of the finest width per scale the terms change on, when the sum starts among
#: large terms; that scale is 1 / (|slope of log term| + _CURVE / sqrt(mode))
_PER_SCALE = 16
_CURVE = 2.0
#: and never more than this many finest cells across the window
_MAX_CELLS = 8192
#: cell widths h, 2h, ..., 32h extrapolated to unit cells at that edge
_LEVELS = 6


def _phi(u: float) -> float:
    """``u - log(1 + u)`` for ``u > -1``, without cancellation near zero."""
    if abs(u) < 0.1:
        total = 0.0
        power = u * u
        j = 2.0
        while True:
            step = power / j
            total += step
            if abs(step) <= 1e-17 * total:
                return total
            power *= -u
            j += 1.0
    return u - math.log1p(u)


def _log_ratio(anchor: float, z: float, k: float) -> float:
    """``log(w(anchor + k) / w(anchor))`` for ``w(s) = z**s / Gamma(s + 1)`` and real ``k``.

    Stirling's formula for both Gammas, arranged so that nothing cancels near the mode
    (``anchor`` close to ``z``): ``anchor phi(k / anchor) - k log((anchor + k) / z)
    - log(1 + k / anchor) / 2`` less the difference of the Stirling remainders.
    """
    u = k / anchor
    return (
        anchor * _phi(u)
        - k * math.log1p((anchor - z + k) / z)
        - 0.5 * math.log1p(u)
        - (_stirlerr(anchor + k) - _stirlerr(anchor))
    )


def _terms(a: float, z: float, mode: int) -> float:
    """About how many terms a direct sum of ``w(a + i)``, ``i >= 0``, adds from its mode."""
    if z <= 0.0:
        return 1.0
    anchor = a + mode
    slope = max(0.0, (anchor - z) / z)
    up = 80.0 / (slope + math.sqrt(slope * slope + 160.0 / anchor))
    down = min(float(mode), math.sqrt(160.0 * anchor)) if mode > 0 else 0.0
    return up + down


def _reach(log_r: Callable[[float], float], start: float, limit: float | None) -> float:
    """The offset from 0, on ``start``'s side, where ``log_r`` falls below the cut.

    ``log_r`` is concave with its maximum near 0: double ``start`` until below the cut,
    then narrow down by bisection to within a sixteenth. ``limit`` bounds the search (the
    edge of the sum) and is returned when the terms are still significant there.
    """
    inner, outer = 0.0, start
    while log_r(outer) > -_CUT:
        if limit is not None and outer == limit:
            return limit
        inner, outer = outer, 2.0 * outer
        if limit is not None and abs(outer) > abs(limit):
            outer = limit
    while abs(outer - inner) > max(1.0, 0.0625 * abs(outer)):
        mid = 0.5 * (inner + outer)
        if log_r(mid) > -_CUT:
            inner = mid
        else:
            outer = mid
    return outer


def _window_sum(
    log_r: Callable[[float], float],
    bottom: float,
    sigma: float,
    fs: Sequence[Callable[[float], float]] = (),
) -> list[float]:
    """``sum_k r(k)`` and ``sum_k r(k) f(k)`` for each ``f`` in ``fs``, over ints ``k >= bottom``.

    ``r = exp(log_r)`` is a smooth, log-concave function of real ``k`` with its largest
    values near ``k = 0`` (``bottom <= 0``), falling off over a width of about ``sigma``
    or more, and each ``f`` is smooth: the sums are too long to add term by term (the width
    runs into thousands or more), so they are done as quadratures. The sum is the midpoint
    rule with unit cells on ``[bottom - 1/2, inf)``. Away from ``bottom`` the terms fall off
    like a Gaussian on both sides, and cells a quarter of ``sigma`` wide give the sum to far
    below rounding (the error of the rule falls like ``exp(-2 pi**2 (sigma / cell)**2)``).
    When the sum starts among large terms, the rule with cells ``h``, ``2h``, ..., ``32h``
    (``h`` a sixteenth of the scale the terms change on there) is a polynomial in the squared
    cell width (Euler-Maclaurin), which is taken through them and evaluated at unit cells.
    Only the window where the terms exceed ``e**-50`` of the largest is visited: a few
    hundred to a few thousand evaluations whatever the size.
    """
    step = max(1.0, sigma)
    hi = _reach(log_r, step, None)
    if bottom == 0.0 or log_r(bottom) > -_CUT:
        lo = _reach(log_r, max(bottom, -step), bottom) if bottom < 0.0 else bottom
        levels = _LEVELS
        # cells a small fraction of the scale the terms change on at the bottom
        scale = 1.0 / (abs(log_r(bottom + 1.0) - log_r(bottom)) + _CURVE / max(1.0, sigma))
        h = float(max(1, math.floor(scale / _PER_SCALE), math.ceil((hi - lo) / _MAX_CELLS)))
        edge = bottom - 0.5
    else:
        lo = _reach(log_r, -step, bottom)
        levels = 1
        h = float(max(1, math.floor(sigma / 4.0)))
        edge = -0.5
    big = h * 2 ** (levels - 1)
    if edge > lo:  # away from the bottom: start the cells at the window
        edge -= big * math.ceil((edge - lo) / big)
    cells = math.ceil((hi - edge) / big)
    sums = []
    for level in range(levels):
        width = h * 2**level
        columns: list[list[float]] = [[] for _ in range(len(fs) + 1)]
        for j in range(cells << (levels - 1 - level)):
            k = edge + (j + 0.5) * width
            r = math.exp(log_r(k))
            columns[0].append(r)
            for column, f in zip(columns[1:], fs, strict=True):
                column.append(r * f(k))
        sums.append([width * math.fsum(column) for column in columns])
    if levels == 1:
        return sums[0]
    # through the points (cell width**2, midpoint sum), evaluated at a unit width
    nodes = [h * h * 4.0**level for level in range(levels)]
    coeffs = []
    for j, sj in enumerate(nodes):
        c = 1.0
        for i, si in enumerate(nodes):
            if i != j:
                c *= (1.0 - si) / (sj - si)
        coeffs.append(c)
    return [
        math.fsum(c * level_sums[part] for c, level_sums in zip(coeffs, sums, strict=True))
        for part in range(len(fs) + 1)
    ]


def _lattice_sum(
    a: float, z: float, mode: int, fs: Sequence[Callable[[float], float]] = ()
) -> list[float]:
    """``sum_i r_i`` and each ``sum_i r_i f(i - mode)`` over ``i >= 0``, ``r_i = w_i / w_mode``.

    Here ``w_i = z**i / ((a + 1) ... (a + i))``, the terms of :func:`_series_m` and the
    weights of the queue lengths in Erlang A, whose largest is ``w_mode``; by
    :func:`_window_sum`, for when ``a`` or ``z`` runs into the millions.
    """
    anchor = a + mode

    def log_r(k: float) -> float:
        return _log_ratio(anchor, z, k)

    return _window_sum(log_r, -float(mode), math.sqrt(anchor), fs)


def log_m(a: float, z: float) -> float:
    """``log M(a, z)`` where ``M(a, z) = sum_j z**j / ((a+1)...(a+j))``.

    ``M(a, z) = P(a, z) / p(a; z)``: the regularized lower incomplete gamma function over the
    Poisson-like term ``z**a e**-z / Gamma(a+1)``. The series below the transition and the
    continued fraction above it, except where they would take more than some ten thousand
    steps (``a`` in the millions, ``z`` within about ``sqrt(a)`` of it): there
    :func:`_lattice_sum`.
    """
    if z <= a + 1.0:
        if _terms(a, z, 0) <= _DIRECT_TERMS:
            return math.log(_series_m(a, z))
        return math.log(_lattice_sum(a, z, 0)[0])
    if a > _CF_MAX and z - a < math.sqrt(a):
        mode = math.floor(z - a)
        return _log_ratio(a, z, float(mode)) + math.log(_lattice_sum(a, z, mode)[0])
    lp = log_poisson(a, z)
    q = math.exp(lp + math.log(a) + math.log(_gamma_cf(a, z))) if lp > -745.0 else 0.0
    return math.log1p(-min(q, 0.999999999999)) - lp


#: Taylor coefficients in eta of Temme's c_k(eta), k = 0..7 (DLMF 8.12.9-10), derived
#: exactly with rational power series (eta from lambda by series reversion).
_TEMME_C: tuple[tuple[float, ...], ...] = (
    (-0.3333333333333333, 0.08333333333333333, -0.014814814814814815, 0.0011574074074074073,
     0.0003527336860670194, -0.0001787551440329218, 3.919263178522438e-05,
     -2.185448510679992e-06, -1.85406221071516e-06, 8.296711340953087e-07,
     -1.7665952736826078e-07, 6.707853543401498e-09, 1.0261809784240309e-08,
     -4.382036018453353e-09, 9.14769958223679e-10, -2.5514193994946248e-11,
     -5.830772132550426e-11, 2.4361948020667415e-11, -5.0276692801141755e-12,
     1.1004392031956135e-13, 3.371763262400985e-13, -1.392388722418162e-13,
     2.8534893807047445e-14, -5.139111834242572e-16, -1.9752288294349442e-15,
     8.099521156704561e-16),
    (-0.001851851851851852, -0.003472222222222222, 0.0026455026455026454,
     -0.0009902263374485596, 0.00020576131687242798, -4.018775720164609e-07,
     -1.8098550334489977e-05, 7.64916091608111e-06, -1.6120900894563446e-06,
     4.647127802807434e-09, 1.378633446915721e-07, -5.752545603517705e-08,
     1.1951628599778148e-08, -1.7543241719747647e-11, -1.0091543710600413e-09,
     4.162792991842583e-10, -8.56390702649298e-11, 6.067215101604758e-14,
     7.1624989648114856e-12, -2.933186643771437e-12, 5.996696365683689e-13,
     -2.1671786527323313e-16, -4.978339972369262e-14, 2.0291628823713425e-14),
    (0.004133597883597883, -0.0026813271604938273, 0.0007716049382716049,
     2.0093878600823047e-06, -0.0001073665322636516, 5.2923448829120125e-05,
     -1.2760635188618728e-05, 3.423578734096138e-08, 1.3721957309062934e-06,
     -6.298992138380055e-07, 1.4280614206064242e-07, -2.0477098421990866e-10,
     -1.409252991086752e-08, 6.228974084922022e-09, -1.3670488396617114e-09,
     9.428356159014678e-13, 1.2872252400089318e-10, -5.5645956134363323e-11,
     1.197593554636698e-11, -4.1689782251838634e-15, -1.0940640427884595e-12,
     4.662239946390136e-13),
    (0.0006494341563786008, 0.00022947209362139917, -0.0004691894943952557,
     0.00026772063206283885, -7.561801671883977e-05, -2.396505113867297e-07,
     1.1082654115347302e-05, -5.6749528269915965e-06, 1.4230900732435883e-06,
     -2.7861080291528143e-11, -1.6958404091930278e-07, 8.099464905388083e-08,
     -1.9111168485973655e-08, 2.3928620439808118e-12, 2.0620131815488797e-09,
     -9.460496661855133e-10, 2.1541049775774907e-10, -1.388823336813903e-14,
     -2.1894761681963938e-11, 9.790998951171684e-12),
    (-0.0008618882909167117, 0.0007840392217200666, -0.0002990724803031902,
     -1.4638452578843418e-06, 6.641498215465122e-05, -3.968365047179435e-05,
     1.1375726970678419e-05, 2.507497226237533e-10, -1.6954149536558305e-06,
     8.907507532205309e-07, -2.292934834000805e-07, 2.956794137544049e-11,
     2.8865829742708783e-08, -1.4189739437803219e-08, 3.4463580499464896e-09,
     -2.3024517174528067e-13, -3.9409233028046403e-10, 1.86023389685045e-10),
    (-0.00033679855336635813, -6.972813758365857e-05, 0.0002772753244959392,
     -0.00019932570516188847, 6.797780477937208e-05, 1.419062920643967e-07,
     -1.3594048189768693e-05, 8.018470256334202e-06, -2.291481176508095e-06,
     -3.252473551298454e-10, 3.4652846491085265e-07, -1.8447187191171344e-07,
     4.8240967037894184e-08, -1.7989466721743514e-14, -6.306194500013523e-09,
     3.162417628774568e-09),
    (0.0005313079364639922, -0.0005921664373536939, 0.0002708782096718045,
     7.902353232660328e-07, -8.153969367561969e-05, 5.61168275310625e-05,
     -1.8329116582843375e-05, -3.0796134506033047e-09, 3.465155368803609e-06,
     -2.0291327396058603e-06, 5.788792863149004e-07, 2.338630673826657e-13,
     -8.828600746330484e-08, 4.7435958880408125e-08),
    (0.00034436760689237765, 5.171790908260592e-05, -0.00033493161081142234,
     0.0002812695154763237, -0.00010976582244684731, -1.2741009095484485e-07,
     2.7744451511563645e-05, -1.8263488805711332e-05, 5.7876949497350525e-06,
     4.93875893393627e-10, -1.0595367014026043e-06, 6.166714376110408e-07),
)

#: below this many servers the series are as fast as the expansion
_TEMME_MIN = 5000


def _temme_q(a: float, x: float) -> float | None:
    """``Q(a, x)``, the regularized upper incomplete gamma function, for large ``a``.

    Temme's uniform asymptotic expansion (N. M. Temme, 1979; DLMF 8.12.3-8.12.10):
    ``Q = erfc(y) / 2 + exp(-y**2) / sqrt(2 pi a) * sum_k c_k(eta) / a**k`` with
    ``a eta**2 / 2 = a (lambda - 1 - ln lambda) = y**2`` and ``lambda = x / a``, computed
    through Loader's ``bd0`` so nothing cancels. A fixed handful of terms, whatever ``a``:
    constant time. Returns None outside the region where it is used (``|eta| > 0.5``, or far
    into the lower tail where the two parts would cancel).
    """
    d = _bd0(a, x)
    y = math.sqrt(d) if x > a else -math.sqrt(d)
    if y > 3.0:
        return None
    eta = y * math.sqrt(2.0 / a)
    size = abs(eta)
    if size > 0.5:
        return None
    # Taylor terms needed for |eta| against the radius 2 sqrt(pi) of the c_k
    length = 26 if size > 1e-12 else 2
    if 1e-12 < size < 0.5:
        length = min(26, 3 + math.ceil(-39.2 / math.log(size / 3.5449)))
    inv = 1.0 / a
    scale = 1.0
    total = 0.0
    for coeffs in _TEMME_C:
        h = 0.0
        for cj in coeffs[min(length, len(coeffs)) - 1 :: -1]:
            h = h * eta + cj
        total += scale * h
        scale *= inv
        if scale < 1e-18:
            break
    return 0.5 * math.erfc(y) + math.exp(-d) / math.sqrt(2.0 * math.pi * a) * total


def erlang_b(a: float, n: int) -> float:
    """Erlang B blocking probability for offered load ``a`` on ``n`` servers."""
    if n == 0:
        return 1.0
    if a == 0.0 or n >= _OVERFLOW_N:
        # More servers than a float holds: n - a >= 2**970, B < exp(-(n - a)**2 / (2 n)) = 0.
        return 0.0
    if n > _EXACT_INT and n > a and float(n - Fraction(a)) > 40.0 * math.sqrt(n):
        # n - a, exactly, is over 40 standard deviations: B < exp(-800), which is 0.0 (this
        # is decided before float(n), which could round n onto a, stands in for n below)
        return 0.0
    if n <= _RECURSION_MAX:
        # 1/B(n) = 1 + n/a * 1/B(n-1), two steps per turn of the loop
        r = 1.0 / a
        inv = 1.0
        k = 1
        if n % 2:
            inv = 1.0 + r
            k = 2
        while k < n:
            inv = 1.0 + (1.0 + inv * k * r) * (k + 1) * r
            k += 2
        return 1.0 / inv
    if n >= _TEMME_MIN:
        q = _temme_q(n + 1.0, a)  # P(X <= n) for X ~ Poisson(a)
        if q is not None:
            return math.exp(log_poisson(float(n), a)) / q
    if n < a:
        # 1/B = sum_j n!/((n-j)! a**j): every ratio (n-j)/a is below one.
        nf = float(n)
        slope = math.log(a / nf)
        if 80.0 / (slope + math.sqrt(slope * slope + 160.0 / nf)) > _DIRECT_TERMS:

            def log_term(j: float) -> float:
                return _log_ratio(nf, a, -j) if j < nf else -math.inf

            return 1.0 / _window_sum(log_term, 0.0, math.sqrt(nf))[0]
        total = 1.0
        term = 1.0
        k = n
        while k > 0:
            term *= k / a
            total += term
            if term <= total * _EPS:
                break
            k -= 1
        return 1.0 / total
    # n >= a: B = p / P(X <= n) = p / (1 - P(X > n)) and P(X > n) = p * a/(n+1) * M(n+1, a),
    # at most about one half here, so the subtraction cannot cancel.
    p = math.exp(log_poisson(float(n), a))
    if p == 0.0:
        return 0.0
    tail = p * a / (n + 1) * _series_m(float(n + 1), a)
    return p / (1.0 - tail)


def erlang_b_up(a: float, n: int, b: float) -> float:
    """``B(a, n + 1)`` from ``B(a, n)`` (the forward recursion; stable)."""
    return a * b / (n + 1 + a * b)


def erlang_b_down(a: float, n: int, b: float) -> float:
    """``B(a, n - 1)`` from ``B(a, n)`` for ``n >= 1``."""
    if b >= 1.0:
        return 1.0
    return min(1.0, n * b / (a * (1.0 - b)))


def erlang_c_from_b(a: float, n: int, b: float) -> float:
    """Erlang C (probability of waiting) from Erlang B on the same ``n`` servers."""
    if n <= a:
        return 1.0
    if b == 0.0:
        return 0.0
    rho = a / n
    if n > _EXACT_INT:
        # a / n may round to one: take 1 - rho = (n - a) / n exactly
        gap = float((n - Fraction(a)) / n)
        return b / (gap + rho * b)
    return b / (1.0 - rho * (1.0 - b))


def _psi_diff(a: float, count: int) -> float:
    """``sum_{j=0}^{count-1} 1 / (a + j)`` (a digamma difference) for ``a > 0``."""
    if count <= 2000:
        return math.fsum(1.0 / (a + j) for j in range(count))
    total = 0.0
    while a < 20.0:
        total += 1.0 / a
        a += 1.0
        count -= 1
    b = a + count
    ia, ib = 1.0 / a, 1.0 / b
    ia2, ib2 = ia * ia, ib * ib
    # psi(z) = ln z - 1/(2z) - 1/(12 z^2) + 1/(120 z^4) - 1/(252 z^6) + ...
    diff = math.log1p(count / a)
    diff -= 0.5 * (ib - ia)
    diff -= (ib2 - ia2) / 12.0
    diff += (ib2 * ib2 - ia2 * ia2) / 120.0
    diff -= (ib2 * ib2 * ib2 - ia2 * ia2 * ia2) / 252.0
    return total + diff


def _psi(z: float) -> float:
    """The digamma function for ``z > 0`` (recurrence up to 20, then its asymptotic series)."""
    total = 0.0
    while z < 20.0:
        total -= 1.0 / z
        z += 1.0
    iz2 = 1.0 / (z * z)
    series = iz2 * (1 / 12 - iz2 * (1 / 120 - iz2 * (1 / 252 - iz2 * (1 / 240 - iz2 / 132))))
    return total + math.log(z) - 0.5 / z - series


def _psi_shift(a: float, c: float) -> float:
    """``psi(a + c) - psi(a)`` for real ``a > 0`` and ``c >= 0``, without cancellation."""
    total = 0.0
    while a < 20.0 and c >= 1.0:
        total += 1.0 / a
        a += 1.0
        c -= 1.0
    if a < 20.0:
        return total + _psi(a + c) - _psi(a)
    b = a + c
    ia, ib = 1.0 / a, 1.0 / b
    ia2, ib2 = ia * ia, ib * ib
    diff = math.log1p(c / a) - 0.5 * (ib - ia) - (ib2 - ia2) / 12.0
    ia4, ib4 = ia2 * ia2, ib2 * ib2
    diff += (ib4 - ia4) / 120.0 - (ib4 * ib2 - ia4 * ia2) / 252.0 + (ib4 * ib4 - ia4 * ia4) / 240.0
    return total + diff


def erlang_a(
    a: float, n: int, g: float, t_over_patience: float | None
) -> tuple[float, float, float | None, float]:
    """Erlang A (M/M/n+M) for the customers who are served.

    Args:
        a: offered load ``lambda / mu`` in Erlangs (> 0).
        n: servers (>= 1).
        g: patience over handle time, ``mu / theta`` (> 0).
        t_over_patience: ``answer_within / patience`` or None.

    Returns:
        ``(wait_probability, abandon_probability, service_level, asa_over_patience)``: the
        share of arrivals who wait, the share who abandon, the share of served customers
        answered within the threshold, and their mean wait in units of mean patience.
    """
    b = erlang_b(a, n)
    if b == 0.0:
        return 0.0, 0.0, (1.0 if t_over_patience is not None else None), 0.0
    x = n * g  # n mu / theta
    y = a * g  # lambda / theta
    mode = max(0, math.floor(y - x))
    if _terms(x, y, mode) > _DIRECT_TERMS:
        return _erlang_a_lattice(b, x, y, mode, t_over_patience)
    lm0 = log_m(x, y)
    wait = _wait_probability(b, lm0)
    factor = x / (x + 1.0)
    served_given_wait = min(1.0, factor * math.exp(log_m(x + 1.0, y) - lm0))
    abandon = wait * (1.0 - served_given_wait)
    served = 1.0 - abandon
    service_level: float | None = None
    if t_over_patience is not None:
        s = t_over_patience
        u = math.exp(-s)
        log_late = (
            math.log(factor) - (x + 1.0) * s - y * math.expm1(-s) + log_m(x + 1.0, y * u) - lm0
        )
        late = min(served_given_wait, math.exp(log_late)) if log_late < 700.0 else served_given_wait
        on_time = (1.0 - wait) + wait * (served_given_wait - late)
        service_level = min(1.0, max(0.0, on_time / served)) if served > 0.0 else 0.0
    asa = wait * _mean_wait_served_given_wait(x, y) / served if served > 0.0 else math.inf
    return wait, abandon, service_level, asa


def _wait_probability(b: float, lm0: float) -> float:
    """Erlang A's P(wait) from Erlang B ``b`` and ``log M(x, y)``.

    ``P(wait) = M B / (1 + (M - 1) B) = 1 / (1 + (1/B - 1) / M)``, in logarithms.
    """
    log_ratio = math.log1p(-b) - math.log(b) - lm0 if b < 1.0 else -math.inf
    return 1.0 / (1.0 + math.exp(log_ratio)) if log_ratio < 700.0 else 0.0


def _erlang_a_lattice(
    b: float, x: float, y: float, mode: int, t_over_patience: float | None
) -> tuple[float, float, float | None, float]:
    """:func:`erlang_a` when the sums over queue lengths run into the tens of thousands.

    One pass of :func:`_lattice_sum` over the weights ``w_i`` gives ``M(x, y)`` and, as
    averages over them, the chance a waiting customer is served, ``x / (x + i + 1)``, and
    their mean wait: ratios that would otherwise be differences of logarithms too large to
    subtract (1e15 and more).
    """
    base = x + 1.0 + mode

    def served(k: float) -> float:
        return x / (base + k)

    def served_wait(k: float) -> float:
        # x / (x + i + 1) * H_i at i = mode + k, with H_i = psi(x + i + 2) - psi(x + 1)
        return x / (base + k) * _psi_shift(x + 1.0, mode + k + 1.0)

    total, served_sum, wait_sum = _lattice_sum(x, y, mode, (served, served_wait))
    lm0 = _log_ratio(x, y, float(mode)) + math.log(total)
    wait = _wait_probability(b, lm0)
    served_given_wait = min(1.0, served_sum / total)
    abandon = wait * (1.0 - served_given_wait)
    served_share = 1.0 - abandon
    service_level: float | None = None
    if t_over_patience is not None:
        s = t_over_patience
        u = math.exp(-s)
        late = served_given_wait
        if y * u != y:
            # late = served_given_wait exp(...) M(x + 1, y u) / M(x + 1, y), both M from
            # log_m, whose rounding errors then largely cancel
            log_share = -(x + 1.0) * s - y * math.expm1(-s) + log_m(x + 1.0, y * u)
            log_share -= log_m(x + 1.0, y)
            late *= math.exp(min(0.0, log_share))
        on_time = (1.0 - wait) + wait * (served_given_wait - late)
        service_level = (
            min(1.0, max(0.0, on_time / served_share)) if served_share > 0.0 else 0.0
        )
    asa = wait * (wait_sum / total) / served_share if served_share > 0.0 else math.inf
    return wait, abandon, service_level, asa


def _mean_wait_served_given_wait(x: float, y: float) -> float:
    """``E[V; served | wait]`` in units of mean patience.

    An arrival finding ``i`` customers queued waits ``V_i = sum_{j<=i} Exp(x + j)`` (offered
    wait) and is served with probability ``x / (x + i + 1)``; under that tilt the wait has mean
    ``H_i = sum_{j<=i} 1/(x + j + 1)``. The states are weighted by the stationary
    distribution ``w_i = prod_{k<=i} y / (x + k)``, summed outwards from its mode (longer
    sums are done in :func:`_erlang_a_lattice`).
    """
    mode = max(0, math.floor(y - x))
    h_mode = _psi_diff(x + 1.0, mode + 1)
    acc = 0.0
    tot = 0.0
    w = 1.0
    h = h_mode
    i = mode
    while True:
        acc += w * x / (x + i + 1.0) * h
        tot += w
        i += 1
        w *= y / (x + i)
        h += 1.0 / (x + i + 1.0)
        if w <= tot * _EPS:
            break
    w = 1.0
    h = h_mode
    i = mode
    while i > 0:
        w *= (x + i) / y
        h -= 1.0 / (x + i + 1.0)
        i -= 1
        acc += w * x / (x + i + 1.0) * h
        tot += w
        if w <= tot * _EPS:
            break
    return acc / tot
