//! Robust-statistics building blocks for the CrowdQC+ network quality control (levels m2 and
//! m5, `shared/docs/domain.md`, section 5): the median, the Rousseeuw–Croux scale estimator Qn,
//! and the Student t and standard normal quantile functions.
//!
//! This file owns the numerics only; the QC levels that combine them live elsewhere. It follows
//! R so that the flags match the reference implementation (which is written in R):
//!
//! - [`qn`] is `robustbase::Qn(x)` as of robustbase 0.95-0 (constant 2.21914, small-sample table
//!   for n = 2..12, fitted finite-sample correction for n > 12), with missing (NaN) values dropped
//!   first;
//! - [`student_t_quantile`] is R's `qt(p, df)` and [`normal_quantile`] is R's `qnorm(p)`
//!   (both lower tail, not on the log scale).
//!
//! All functions are pure, never panic, and report inputs they cannot handle with `None`.

use std::f64::consts::LN_2;

// ---------------------------------------------------------------------------------------------
// Median
// ---------------------------------------------------------------------------------------------

/// The median of `values`: the middle value for odd n, the average of the two middle values for
/// even n, `None` when `values` is empty.
///
/// The input must be free of NaN (drop missing values before calling). With NaN present the
/// function still returns without panicking, but the result is unspecified: values are ordered by
/// [`f64::total_cmp`], which sorts NaN to the ends.
///
/// Runs in O(n) expected time with [`slice::select_nth_unstable_by`] and allocates nothing; the
/// slice is reordered in place (its order afterwards is unspecified).
pub fn median(values: &mut [f64]) -> Option<f64> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (lower, upper_middle, _) = values.select_nth_unstable_by(n / 2, f64::total_cmp);
    let upper_middle = *upper_middle;
    if n % 2 == 1 {
        return Some(upper_middle);
    }
    // For even n the lower middle value is the largest of the lower half (non-empty as n ≥ 2).
    let lower_middle = lower.iter().copied().max_by(f64::total_cmp)?;
    Some(lower_middle.midpoint(upper_middle))
}

// ---------------------------------------------------------------------------------------------
// Qn
// ---------------------------------------------------------------------------------------------

/// Asymptotic consistency constant of Qn at the normal distribution (robustbase ≥ 0.93:
/// `1 / (sqrt(2) * qnorm(5/8))` rounded to 2.21914).
const QN_CONSTANT: f64 = 2.21914;

/// robustbase 0.95-0 finite-sample correction factors for n = 2..=12 (multiplied).
const QN_SMALL_SAMPLE_FACTORS: [f64; 11] = [
    0.399356, 0.99365, 0.51321, 0.84401, 0.6122, 0.85877, 0.66993, 0.87344, 0.72014, 0.88906,
    0.75743,
];

/// robustbase 0.95-0 `Qn.finite.c(n)` for n > 12 (Qn is divided by it).
fn qn_finite_c(n: usize) -> f64 {
    let nf = n as f64;
    let r = if n % 2 == 1 {
        1.60188 + (-2.1284 - 5.172 / nf) / nf
    } else {
        3.67561 + (1.9654 + (6.987 - 77.0 / nf) / nf) / nf
    };
    r / nf + 1.0
}

/// Applies the robustbase 0.95-0 constant and finite-sample correction to the order statistic
/// `d_k` of a sample of size `n ≥ 2`, with the same operations as `robustbase::Qn`.
fn qn_scale(d_k: f64, n: usize) -> f64 {
    let r = QN_CONSTANT * d_k;
    match n {
        2..=12 => r * QN_SMALL_SAMPLE_FACTORS[n - 2],
        _ => r / qn_finite_c(n),
    }
}

/// The rank k (1-based) of the pairwise difference Qn uses: k = h(h−1)/2 with h = ⌊n/2⌋ + 1.
fn qn_rank(n: usize) -> u64 {
    let h = (n / 2) as u64 + 1;
    h * (h - 1) / 2
}

/// The Rousseeuw–Croux scale estimator Qn, exactly as `robustbase::Qn(x)` in robustbase 0.95-0
/// (default constant and finite-sample correction; see `shared/docs/domain.md`, section 5).
///
/// `Qn(x) = c · d_(k)` where `d_(k)` is the k-th smallest of the n(n−1)/2 distances
/// `|x_i − x_j|`, i < j, with `k = h(h−1)/2`, `h = ⌊n/2⌋ + 1`, and `c = 2.21914 · f(n)`:
/// `f(n)` is robustbase's table for n = 2..=12 and `1 / (1 + r/n)` with its fitted `r(n)`
/// (separately for odd and even n) for n > 12.
///
/// - NaN values are missing and dropped first; n counts the remaining values.
/// - Returns `None` if no value remains, `Some(0.0)` for a single value.
/// - Returns `None` if any value is infinite (distances between infinities are undefined).
///   Finite values whose distance overflows give an infinite result.
///
/// The returned distance is always one of the actual floating-point differences, never an
/// interpolation. Selection uses the Croux–Rousseeuw scheme (Croux & Rousseeuw 1992,
/// "Time-efficient algorithms for two highly robust estimators of scale"): each round takes the
/// weighted median of the row medians of the implicit sorted difference matrix as a pivot,
/// counts the differences below and at the pivot with two pointers in O(n), and discards at
/// least a quarter of the remaining candidates; this is O(n log n) time overall (the initial
/// sort dominates) and O(n) scratch memory (a sorted copy of the input and four index arrays).
pub fn qn(values: &[f64]) -> Option<f64> {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    if sorted.iter().any(|v| v.is_infinite()) {
        return None;
    }
    match sorted.len() {
        0 => return None,
        1 => return Some(0.0),
        _ => {}
    }
    sorted.sort_unstable_by(f64::total_cmp);
    let n = sorted.len();
    let d_k = kth_pairwise_difference(&sorted, qn_rank(n))?;
    Some(qn_scale(d_k, n))
}

/// The k-th smallest (1-based) of the differences `y[j] − y[i]`, i < j, of an ascending,
/// NaN-free, infinity-free slice. `None` if k is 0 or exceeds the number of pairs.
///
/// The differences form a matrix whose row i (columns j > i) is non-decreasing in j and whose
/// column j is non-increasing in i; floating-point subtraction is monotone, so this holds for
/// the computed differences too and all counting below compares computed differences only.
/// Row i keeps a half-open candidate column range `lo[i]..hi[i]`; all pairs left of it are
/// smaller than every candidate and all pairs right of it larger, so the answer is the
/// (k − below)-th smallest candidate, where `below` counts the pairs left of the ranges.
fn kth_pairwise_difference(y: &[f64], k: u64) -> Option<f64> {
    let n = y.len();
    let pairs = (n as u64) * (n as u64).saturating_sub(1) / 2;
    if k == 0 || k > pairs {
        return None;
    }
    let mut lo: Vec<usize> = (1..=n).collect();
    let mut hi: Vec<usize> = vec![n; n];
    let mut below: u64 = 0;
    let mut remaining: u64 = pairs;
    // Row medians with their weights (candidate counts); reused every round.
    let mut medians: Vec<(f64, u64)> = Vec::with_capacity(n);
    // Per-row boundaries: first column whose difference is ≥ pivot, resp. > pivot.
    let mut first_geq: Vec<usize> = vec![0; n];
    let mut first_gt: Vec<usize> = vec![0; n];

    // Each round discards at least a quarter of the candidates, so at most
    // log_{4/3}(2^128) < 320 rounds are needed; the bound only guarantees termination.
    for _ in 0..320 {
        if remaining <= n as u64 {
            break;
        }
        medians.clear();
        for i in 0..n {
            if lo[i] < hi[i] {
                let width = hi[i] - lo[i];
                let middle = lo[i] + (width - 1) / 2;
                medians.push((y[middle] - y[i], width as u64));
            }
        }
        let pivot = weighted_lower_median(&mut medians, remaining)?;

        // Two pointers: both boundaries are non-decreasing in i.
        let mut geq = 1usize;
        let mut gt = 1usize;
        let mut count_less: u64 = 0;
        let mut count_leq: u64 = 0;
        for i in 0..n {
            geq = geq.max(i + 1);
            while geq < n && y[geq] - y[i] < pivot {
                geq += 1;
            }
            gt = gt.max(geq);
            while gt < n && y[gt] - y[i] <= pivot {
                gt += 1;
            }
            first_geq[i] = geq;
            first_gt[i] = gt;
            count_less += (geq - i - 1) as u64;
            count_leq += (gt - i - 1) as u64;
        }

        if k <= count_less {
            // The answer is below the pivot: drop every candidate ≥ pivot.
            for i in 0..n {
                hi[i] = hi[i].min(first_geq[i]).max(lo[i]);
            }
        } else if k > count_leq {
            // The answer is above the pivot: drop every candidate ≤ pivot.
            for i in 0..n {
                lo[i] = lo[i].max(first_gt[i]).min(hi[i]);
            }
        } else {
            return Some(pivot);
        }
        below = 0;
        remaining = 0;
        for i in 0..n {
            below += (lo[i] - i - 1) as u64;
            remaining += (hi[i] - lo[i]) as u64;
        }
    }

    // Few candidates left (at most n after the loop): select among them directly.
    let rank = usize::try_from(k.checked_sub(below)?.checked_sub(1)?).ok()?;
    let mut candidates: Vec<f64> = Vec::with_capacity(remaining.min(n as u64) as usize);
    for i in 0..n {
        for &yj in &y[lo[i]..hi[i]] {
            candidates.push(yj - y[i]);
        }
    }
    if rank >= candidates.len() {
        return None;
    }
    let (_, value, _) = candidates.select_nth_unstable_by(rank, f64::total_cmp);
    Some(*value)
}

/// The lower weighted median of `(value, weight)` items with total weight `total`: the first
/// value, in ascending order, at which the cumulative weight reaches ⌈total/2⌉. At least half of
/// the weight lies at or below it and at least half at or above it. Expected O(len) time
/// (quickselect); the items are reordered.
fn weighted_lower_median(items: &mut [(f64, u64)], total: u64) -> Option<f64> {
    let mut target = total.div_ceil(2).max(1);
    let mut slice = items;
    loop {
        if slice.is_empty() {
            return None;
        }
        let middle = slice.len() / 2;
        let current = std::mem::take(&mut slice);
        let (left, pivot, right) =
            current.select_nth_unstable_by(middle, |a, b| a.0.total_cmp(&b.0));
        let (pivot_value, pivot_weight) = *pivot;
        let left_weight: u64 = left.iter().map(|item| item.1).sum();
        if left_weight >= target {
            slice = left;
        } else if left_weight + pivot_weight >= target {
            return Some(pivot_value);
        } else {
            target -= left_weight + pivot_weight;
            slice = right;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Normal quantile
// ---------------------------------------------------------------------------------------------

/// Evaluates the polynomial with coefficients `c` (lowest degree first) at `x` (Horner).
fn polynomial(c: &[f64], x: f64) -> f64 {
    c.iter().rev().fold(0.0, |acc, &ci| acc * x + ci)
}

/// The standard normal quantile Φ⁻¹(p), like R's `qnorm(p)`: Wichura's algorithm AS 241
/// (PPND16, Applied Statistics 37, 1988), the method R uses, accurate to about 1e-16 relative.
///
/// Returns `None` unless 0 < p < 1 (R would return ±Inf at 0 and 1 and NaN outside).
// The coefficients keep the digits published with AS 241 so they can be checked against it.
#[allow(clippy::excessive_precision)]
pub fn normal_quantile(p: f64) -> Option<f64> {
    if !(p > 0.0 && p < 1.0) {
        return None;
    }
    const A: [f64; 8] = [
        3.387132872796366608,
        133.14166789178437745,
        1971.5909503065514427,
        13731.693765509461125,
        45921.953931549871457,
        67265.770927008700853,
        33430.575583588128105,
        2509.0809287301226727,
    ];
    const B: [f64; 8] = [
        1.0,
        42.313330701600911252,
        687.1870074920579083,
        5394.1960214247511077,
        21213.794301586595867,
        39307.89580009271061,
        28729.085735721942674,
        5226.495278852854561,
    ];
    const C: [f64; 8] = [
        1.42343711074968357734,
        4.6303378461565452959,
        5.7694972214606914055,
        3.64784832476320460504,
        1.27045825245236838258,
        0.24178072517745061177,
        0.0227238449892691845833,
        7.7454501427834140764e-4,
    ];
    const D: [f64; 8] = [
        1.0,
        2.05319162663775882187,
        1.6763848301838038494,
        0.68976733498510000455,
        0.14810397642748007459,
        0.0151986665636164571966,
        5.475938084995344946e-4,
        1.05075007164441684324e-9,
    ];
    const E: [f64; 8] = [
        6.6579046435011037772,
        5.4637849111641143699,
        1.7848265399172913358,
        0.29656057182850489123,
        0.026532189526576123093,
        0.0012426609473880784386,
        2.71155556874348757815e-5,
        2.01033439929228813265e-7,
    ];
    const F: [f64; 8] = [
        1.0,
        0.59983220655588793769,
        0.13692988092273580531,
        0.0148753612908506148525,
        7.868691311456132591e-4,
        1.8463183175100546818e-5,
        1.4215117583164458887e-7,
        2.04426310338993978564e-15,
    ];

    let q = p - 0.5;
    if q.abs() <= 0.425 {
        let r = 0.180625 - q * q;
        return Some(q * polynomial(&A, r) / polynomial(&B, r));
    }
    let tail = if q < 0.0 { p } else { 1.0 - p };
    let r = (-tail.ln()).sqrt();
    let value = if r <= 5.0 {
        let r = r - 1.6;
        polynomial(&C, r) / polynomial(&D, r)
    } else {
        let r = r - 5.0;
        polynomial(&E, r) / polynomial(&F, r)
    };
    Some(if q < 0.0 { -value } else { value })
}

// ---------------------------------------------------------------------------------------------
// Student t quantile
// ---------------------------------------------------------------------------------------------

/// ln √(2π).
const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

/// Degrees of freedom above which [`student_t_quantile`] uses the Cornish–Fisher expansion
/// instead of inverting the incomplete beta function. The expansion's error is O(z¹¹/df⁵):
/// below 4e-14 relative for df ≥ 10⁵ even at p = 1e-300 (checked against 50-digit values),
/// while the continued fraction needs O(√df) terms and loses about df·ε relative accuracy
/// (x = df/(df + t²) is close to 1).
const DF_ASYMPTOTIC: f64 = 1e5;

/// Stirling-series remainder `ln Γ(x) − ((x − ½) ln x − x + ln √(2π))` for x ≥ 10, accurate to
/// about 1e-17 there.
fn stirling_remainder(x: f64) -> f64 {
    let x2 = 1.0 / (x * x);
    // Bernoulli-number coefficients B_{2m} / (2m (2m − 1)), m = 1..=7.
    const S: [f64; 7] = [
        1.0 / 12.0,
        -1.0 / 360.0,
        1.0 / 1260.0,
        -1.0 / 1680.0,
        1.0 / 1188.0,
        -691.0 / 360_360.0,
        1.0 / 156.0,
    ];
    polynomial(&S, x2) / x
}

/// ln Γ(x) for x > 0: upward recurrence to x ≥ 10, then Stirling's series.
fn ln_gamma(x: f64) -> f64 {
    let mut z = x;
    let mut product = 1.0;
    while z < 10.0 {
        product *= z;
        z += 1.0;
    }
    (z - 0.5) * z.ln() - z + LN_SQRT_2PI + stirling_remainder(z) - product.ln()
}

/// ln B(a, b) for a, b > 0, arranged like R's `lbeta` so that large arguments do not cancel.
fn ln_beta(a: f64, b: f64) -> f64 {
    let (p, q) = if a < b { (a, b) } else { (b, a) };
    let ratio = p / (p + q);
    if p >= 10.0 {
        let remainder = stirling_remainder(p) + stirling_remainder(q) - stirling_remainder(p + q);
        -0.5 * q.ln() + LN_SQRT_2PI + remainder + (p - 0.5) * ratio.ln() + q * (-ratio).ln_1p()
    } else if q >= 10.0 {
        let remainder = stirling_remainder(q) - stirling_remainder(p + q);
        ln_gamma(p) + remainder + p - p * (p + q).ln() + (q - 0.5) * (-ratio).ln_1p()
    } else {
        ln_gamma(p) + ln_gamma(q) - ln_gamma(p + q)
    }
}

/// ln(1 − eˡ) for l ≤ 0, accurate on both ends (Mächler 2012).
fn ln_one_minus_exp(l: f64) -> f64 {
    if l >= 0.0 {
        f64::NEG_INFINITY
    } else if l > -LN_2 {
        (-l.exp_m1()).ln()
    } else {
        (-l.exp()).ln_1p()
    }
}

/// Continued fraction for the incomplete beta function (Numerical Recipes `betacf`), evaluated
/// with the modified Lentz method; converges fast for x < (a + 1)/(a + b + 2).
fn beta_continued_fraction(a: f64, b: f64, x: f64) -> f64 {
    const TINY: f64 = 1e-300;
    const MAX_TERMS: usize = 20_000;
    let qab = a + b;
    let qap = a + 1.0;
    let qam = a - 1.0;
    let guard = |v: f64| if v.abs() < TINY { TINY } else { v };
    let mut c = 1.0;
    let mut d = 1.0 / guard(1.0 - qab * x / qap);
    let mut h = d;
    for m in 1..=MAX_TERMS {
        let m = m as f64;
        let m2 = 2.0 * m;
        let even = m * (b - m) * x / ((qam + m2) * (a + m2));
        d = 1.0 / guard(1.0 + even * d);
        c = guard(1.0 + even / c);
        h *= d * c;
        let odd = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2));
        d = 1.0 / guard(1.0 + odd * d);
        c = guard(1.0 + odd / c);
        let delta = d * c;
        h *= delta;
        if (delta - 1.0).abs() <= f64::EPSILON {
            break;
        }
    }
    h
}

/// `(ln I_x(a, b), ln(1 − I_x(a, b)))` of the regularized incomplete beta function, given x and
/// y = 1 − x and their logarithms (all computed accurately by the caller, so that neither x
/// near 1 nor tiny tails lose precision). The smaller of the two is computed directly.
fn ln_beta_inc(a: f64, b: f64, x: f64, y: f64, ln_x: f64, ln_y: f64) -> (f64, f64) {
    // x or y may underflow to 0 while their logarithms stay finite: only the logarithms decide.
    if ln_x == f64::NEG_INFINITY {
        return (f64::NEG_INFINITY, 0.0);
    }
    if ln_y == f64::NEG_INFINITY {
        return (0.0, f64::NEG_INFINITY);
    }
    let ln_front = a * ln_x + b * ln_y - ln_beta(a, b);
    if x < (a + 1.0) / (a + b + 2.0) {
        let ln_i = ln_front + beta_continued_fraction(a, b, x).ln() - a.ln();
        (ln_i, ln_one_minus_exp(ln_i))
    } else {
        let ln_c = ln_front + beta_continued_fraction(b, a, y).ln() - b.ln();
        (ln_one_minus_exp(ln_c), ln_c)
    }
}

/// Student t distribution with `df` degrees of freedom, evaluated at t = e^u ≥ 0.
struct TPoint {
    /// ln P(T > t).
    ln_upper: f64,
    /// P(0 < T ≤ t) = ½ − P(T > t), computed directly.
    centre: f64,
    /// ln of the density at t.
    ln_density: f64,
}

/// Evaluates the t distribution at t = e^u (u = −∞ for t = 0) through
/// P(T > t) = ½ I_x(df/2, ½) with x = df/(df + t²).
fn t_point(u: f64, df: f64, ln_df: f64, ln_beta_half: f64) -> TPoint {
    // w = ln(t²/df); ln x = −ln(1 + e^w), ln y = w − ln(1 + e^w), without overflow.
    let w = 2.0 * u - ln_df;
    let (ln_x, ln_y) = if w > 0.0 {
        let l = (-w).exp().ln_1p();
        (-w - l, -l)
    } else {
        let l = w.exp().ln_1p();
        (-l, w - l)
    };
    let (ln_i, ln_one_minus_i) = ln_beta_inc(0.5 * df, 0.5, ln_x.exp(), ln_y.exp(), ln_x, ln_y);
    TPoint {
        ln_upper: ln_i - LN_2,
        centre: 0.5 * ln_one_minus_i.exp(),
        ln_density: -ln_beta_half - 0.5 * ln_df + 0.5 * (df + 1.0) * ln_x,
    }
}

/// Cornish–Fisher expansion of the t quantile around the normal quantile z
/// (Abramowitz & Stegun 26.7.5, terms to df⁻⁴).
fn t_quantile_cornish_fisher(z: f64, df: f64) -> f64 {
    let z2 = z * z;
    let g1 = z * (z2 + 1.0) / 4.0;
    let g2 = z * ((5.0 * z2 + 16.0) * z2 + 3.0) / 96.0;
    let g3 = z * (((3.0 * z2 + 19.0) * z2 + 17.0) * z2 - 15.0) / 384.0;
    let g4 = z * ((((79.0 * z2 + 776.0) * z2 + 1482.0) * z2 - 1920.0) * z2 - 945.0) / 92160.0;
    z + (g1 + (g2 + (g3 + g4 / df) / df) / df) / df
}

/// The Student t quantile, like R's `qt(p, df)` (lower tail): the t with P(T ≤ t) = p for a t
/// distribution with `df` degrees of freedom (non-integer allowed).
///
/// Returns `None` unless 0 < p < 1 and df > 0 (NaN in, `None` out); `df = +∞` gives the normal
/// quantile, and a quantile beyond the `f64` range (extreme p with df < 1) gives ±∞ as in R.
///
/// Accuracy: about 1e-12 relative (worst 5e-13 over df from 0.3 to 10⁵ and p from 1e-300 to
/// 0.975, against 40-digit values of the t CDF inverted with mpmath; the tests pin 26 of them
/// to 1e-10).
///
/// Method: P(T > t) = ½ I_x(df/2, ½) with x = df/(df + t²), where the regularized incomplete
/// beta function I is evaluated in log space with its continued fraction (modified Lentz;
/// Numerical Recipes §6.4) and a cancellation-free ln B (as R's `lbeta`). With q = min(p, 1−p),
/// the equation is inverted by Newton's method on the exact CDF, safeguarded by bisection:
/// for q < ¼ on ln P(T > t) − ln q as a function of ln t (nearly linear, since the tail is
/// close to a power law), for q ≥ ¼ on P(0 < T ≤ t) − (½ − q) as a function of t starting
/// from 0 (concave, so the iterates increase monotonically to the root). Above df = 10⁵ the
/// Cornish–Fisher expansion around [`normal_quantile`] is used instead.
pub fn student_t_quantile(p: f64, df: f64) -> Option<f64> {
    // Written so that NaN in either argument is rejected too.
    let valid = p > 0.0 && p < 1.0 && df > 0.0;
    if !valid {
        return None;
    }
    if df == f64::INFINITY {
        return normal_quantile(p);
    }
    if p == 0.5 {
        return Some(0.0);
    }
    let sign = if p < 0.5 { -1.0 } else { 1.0 };
    // Exact for p ≥ ½ (Sterbenz), so the upper half has the same precision as the lower.
    let q = if p < 0.5 { p } else { 1.0 - p };
    if df > DF_ASYMPTOTIC {
        let z = normal_quantile(q)?;
        return Some(-sign * t_quantile_cornish_fisher(z, df));
    }
    let ln_df = df.ln();
    let ln_beta_half = ln_beta(0.5 * df, 0.5);
    let t = if q < 0.25 {
        t_upper_tail_root(q, df, ln_df, ln_beta_half)?
    } else {
        t_centre_root(0.5 - q, df, ln_df, ln_beta_half)?
    };
    Some(sign * t)
}

/// Solves P(T > t) = q for t > 0 (q < ¼) by safeguarded Newton iteration in u = ln t.
fn t_upper_tail_root(q: f64, df: f64, ln_df: f64, ln_beta_half: f64) -> Option<f64> {
    const MAX_STEPS: usize = 400;
    const TOLERANCE: f64 = 1e-14;
    let ln_q = q.ln();
    // G(u) = ln P(T > e^u) − ln q, decreasing in u; G'(u) = −f(t)·t / P(T > t).
    let evaluate = |u: f64| {
        let point = t_point(u, df, ln_df, ln_beta_half);
        let g = point.ln_upper - ln_q;
        let slope = -(point.ln_density + u - point.ln_upper).exp();
        (g, slope)
    };

    // Two starting points, keep the better: the normal-based Cornish–Fisher value, and the
    // power-law tail P(T > t) ≈ x^(df/2) / (df·B(df/2, ½)) solved for x = df/(df + t²).
    let z = normal_quantile(q)?.abs();
    let guess_normal = t_quantile_cornish_fisher(z, df.max(1.0)).max(1e-3).ln();
    let ln_x = (2.0 / df) * (ln_q + ln_df + ln_beta_half);
    let guess_power = if ln_x < -1e-3 {
        0.5 * (ln_df + ln_one_minus_exp(ln_x) - ln_x)
    } else {
        guess_normal
    };
    let (g_normal, s_normal) = evaluate(guess_normal);
    let (g_power, s_power) = evaluate(guess_power);

    let mut lo = f64::NEG_INFINITY; // G(lo) > 0
    let mut hi = f64::INFINITY; // G(hi) < 0
    for (u, g) in [(guess_normal, g_normal), (guess_power, g_power)] {
        if g > 0.0 {
            lo = lo.max(u);
        } else if g < 0.0 {
            hi = hi.min(u);
        } else if g == 0.0 {
            return Some(u.exp());
        }
    }
    let (mut u, mut g, mut slope) = if g_power.abs() < g_normal.abs() {
        (guess_power, g_power, s_power)
    } else {
        (guess_normal, g_normal, s_normal)
    };

    for _ in 0..MAX_STEPS {
        let newton = u - g / slope;
        let next = if newton > lo && newton < hi {
            newton
        } else if lo.is_finite() && hi.is_finite() {
            0.5 * (lo + hi)
        } else if lo.is_finite() {
            lo + 2.0
        } else {
            hi - 2.0
        };
        let step = (next - u).abs();
        u = next;
        if step <= TOLERANCE || hi - lo <= TOLERANCE {
            break;
        }
        (g, slope) = evaluate(u);
        if g.is_nan() || slope.is_nan() || slope == 0.0 {
            // Out of the representable range: treat as overshoot to the side g indicates.
            if g > 0.0 {
                lo = u;
            } else {
                hi = u;
            }
            g = f64::NAN;
            slope = f64::NAN;
            continue;
        }
        if g > 0.0 {
            lo = u;
        } else if g < 0.0 {
            hi = u;
        } else {
            break;
        }
    }
    // A root beyond f64::MAX (tiny p with df < 1) becomes +∞, as in R.
    let t = u.exp();
    (!t.is_nan()).then_some(t)
}

/// Solves P(0 < T ≤ t) = target for t ≥ 0 (0 < target ≤ ¼) by Newton's method from t = 0.
/// The left-hand side is concave in t ≥ 0, so the iterates increase monotonically to the root.
fn t_centre_root(target: f64, df: f64, ln_df: f64, ln_beta_half: f64) -> Option<f64> {
    const MAX_STEPS: usize = 400;
    let mut t: f64 = 0.0;
    for _ in 0..MAX_STEPS {
        let point = t_point(t.ln(), df, ln_df, ln_beta_half);
        let residual = target - point.centre;
        let step = residual / point.ln_density.exp();
        if !step.is_finite() {
            return None;
        }
        let next = (t + step).max(0.0);
        let done = (next - t).abs() <= 4.0 * f64::EPSILON * next;
        t = next;
        if done {
            break;
        }
    }
    Some(t)
}

#[cfg(test)]
#[allow(clippy::excessive_precision)] // reference values are quoted with all their digits
mod tests {
    use super::*;

    /// SplitMix64: small deterministic PRNG for the property tests.
    struct SplitMix64(u64);

    impl SplitMix64 {
        fn next_u64(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in [0, 1).
        fn next_f64(&mut self) -> f64 {
            (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next_u64() % n
        }
    }

    /// Random sample of size n in one of several shapes, many with ties and duplicates.
    fn sample(rng: &mut SplitMix64, n: usize) -> Vec<f64> {
        let shape = rng.below(6);
        (0..n)
            .map(|_| match shape {
                // Continuous, temperature-like.
                0 => 15.0 + 10.0 * rng.next_f64(),
                // Temperatures rounded to 0.1 K: many ties.
                1 => ((150.0 + 100.0 * rng.next_f64()).round()) / 10.0,
                // Very few distinct integers: heavy ties.
                2 => rng.below(4) as f64,
                // All equal.
                3 => 21.5,
                // Heavy-tailed with outliers and signed zeros.
                4 => {
                    let r = rng.next_f64();
                    if r < 0.1 {
                        1e3 * (rng.next_f64() - 0.5)
                    } else if r < 0.2 {
                        if rng.below(2) == 0 { 0.0 } else { -0.0 }
                    } else {
                        rng.next_f64() - 0.5
                    }
                }
                // Mixed duplicates of a small random pool.
                _ => [18.25, 18.3, 19.0, 19.0, 20.7, -3.5][rng.below(6) as usize],
            })
            .collect()
    }

    /// O(n²) reference: all pairwise distances, sorted.
    fn naive_differences(values: &[f64]) -> Vec<f64> {
        let mut d = Vec::new();
        for i in 0..values.len() {
            for j in (i + 1)..values.len() {
                d.push((values[i] - values[j]).abs());
            }
        }
        d.sort_by(f64::total_cmp);
        d
    }

    /// O(n²) reference Qn, straight from the definition.
    fn naive_qn(values: &[f64]) -> Option<f64> {
        let x: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        match x.len() {
            0 => None,
            1 => Some(0.0),
            n => {
                let d = naive_differences(&x);
                let k = qn_rank(n) as usize;
                Some(qn_scale(d[k - 1], n))
            }
        }
    }

    fn assert_close(actual: f64, expected: f64, relative: f64) {
        let tolerance = relative * expected.abs().max(1e-300);
        assert!(
            (actual - expected).abs() <= tolerance,
            "got {actual:e}, expected {expected:e} (relative tolerance {relative:e})"
        );
    }

    // --- median ------------------------------------------------------------------------------

    #[test]
    fn median_small_cases() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [3.5]), Some(3.5));
        assert_eq!(median(&mut [4.0, 1.0]), Some(2.5));
        assert_eq!(median(&mut [5.0, 1.0, 3.0]), Some(3.0));
        assert_eq!(median(&mut [7.0, 1.0, 3.0, 5.0]), Some(4.0));
        assert_eq!(median(&mut [2.0, 2.0, 2.0, 9.0]), Some(2.0));
        assert_eq!(median(&mut [f64::MAX, f64::MAX]), Some(f64::MAX));
    }

    #[test]
    fn median_with_nan_does_not_panic() {
        let _ = median(&mut [f64::NAN, 1.0, 2.0]);
        let _ = median(&mut [f64::NAN]);
    }

    #[test]
    fn median_matches_sorting_on_random_inputs() {
        let mut rng = SplitMix64(7);
        for n in 1..300 {
            let values = sample(&mut rng, n);
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let expected = if n % 2 == 1 {
                sorted[n / 2]
            } else {
                (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
            };
            let mut scratch = values.clone();
            assert_eq!(median(&mut scratch), Some(expected), "n = {n}: {values:?}");
        }
    }

    // --- Qn ----------------------------------------------------------------------------------

    #[test]
    fn qn_documented_vector() {
        // shared/docs/domain.md: Qn(20.1, 19.5, 21.0, 22.3, 18.9) = 1.685679 (d_(3) = 0.9).
        let value = qn(&[20.1, 19.5, 21.0, 22.3, 18.9]).expect("five values");
        assert!((value - 1.685679).abs() < 1e-6, "{value}");
    }

    #[test]
    fn qn_one_to_ten() {
        // Under the definition (and robustbase 0.95-0's code): n = 10, h = 6, k = 15; the
        // distances of 1..=10 are 1 (9 times), 2 (8 times), ..., so d_(15) = 2 and
        // Qn = 2.21914 · 2 · 0.72014 = 3.196183. shared/docs/domain.md lists 1.001244 for this
        // vector, which its own definition does not give (no d_(k) of 1..=10 times c(10) does).
        let x: Vec<f64> = (1..=10).map(f64::from).collect();
        let value = qn(&x).expect("ten values");
        assert!((value - 3.196183).abs() < 1e-6, "{value}");
        assert_eq!(value, 2.21914 * 2.0 * 0.72014);
    }

    #[test]
    fn qn_edge_cases() {
        assert_eq!(qn(&[]), None);
        assert_eq!(qn(&[f64::NAN, f64::NAN]), None);
        assert_eq!(qn(&[4.2]), Some(0.0));
        assert_eq!(qn(&[f64::NAN, 4.2, f64::NAN]), Some(0.0));
        assert_eq!(qn(&[1.0, f64::INFINITY, 2.0]), None);
        assert_eq!(qn(&[f64::NEG_INFINITY]), None);
        // n = 2: d_(1) = |x1 − x2|.
        assert_eq!(qn(&[1.0, 3.0]), Some(2.21914 * 2.0 * 0.399356));
        // NaN is dropped before n is counted.
        assert_eq!(
            qn(&[20.1, f64::NAN, 19.5, 21.0, 22.3, 18.9]),
            qn(&[20.1, 19.5, 21.0, 22.3, 18.9])
        );
        assert_eq!(qn(&[5.0; 40]), Some(0.0));
        // Overflowing distances do not panic.
        assert_eq!(qn(&[-f64::MAX, f64::MAX]), Some(f64::INFINITY));
    }

    #[test]
    fn qn_large_n_correction() {
        // n = 13 (odd) and n = 14 (even) use the fitted correction 1 / Qn.finite.c(n).
        let x13: Vec<f64> = (1..=13).map(f64::from).collect();
        let x14: Vec<f64> = (1..=14).map(f64::from).collect();
        // n = 13: h = 7, k = 21; distance 1 occurs 12 times, 2 occurs 11 times → d = 2.
        let c13 = 1.0 + (1.60188 + (-2.1284 - 5.172 / 13.0) / 13.0) / 13.0;
        assert_eq!(qn(&x13), Some(2.21914 * 2.0 / c13));
        // n = 14: h = 8, k = 28; 13 ones, 12 twos, 11 threes → d = 3.
        let c14 = 1.0 + (3.67561 + (1.9654 + (6.987 - 77.0 / 14.0) / 14.0) / 14.0) / 14.0;
        assert_eq!(qn(&x14), Some(2.21914 * 3.0 / c14));
    }

    #[test]
    fn qn_matches_naive_reference() {
        let mut rng = SplitMix64(0x1107);
        for round in 0..6 {
            for n in 1..200 {
                let mut values = sample(&mut rng, n);
                if round % 3 == 2 && n > 2 {
                    // Sprinkle missing values.
                    let k = rng.below(n as u64) as usize;
                    values[k] = f64::NAN;
                }
                assert_eq!(
                    qn(&values),
                    naive_qn(&values),
                    "round {round}, n = {n}: {values:?}"
                );
            }
        }
    }

    #[test]
    fn kth_difference_matches_naive_for_every_rank() {
        let mut rng = SplitMix64(42);
        for n in 2..40 {
            for _ in 0..3 {
                let mut values = sample(&mut rng, n);
                values.sort_by(f64::total_cmp);
                let expected = naive_differences(&values);
                for k in 1..=expected.len() {
                    assert_eq!(
                        kth_pairwise_difference(&values, k as u64),
                        Some(expected[k - 1]),
                        "n = {n}, k = {k}: {values:?}"
                    );
                }
                assert_eq!(kth_pairwise_difference(&values, 0), None);
                assert_eq!(
                    kth_pairwise_difference(&values, expected.len() as u64 + 1),
                    None
                );
            }
        }
    }

    #[test]
    fn qn_matches_naive_reference_for_a_larger_sample() {
        let mut rng = SplitMix64(99);
        let values: Vec<f64> = (0..1500)
            .map(|_| (150.0 + 100.0 * rng.next_f64()).round() / 10.0)
            .collect();
        assert_eq!(qn(&values), naive_qn(&values));
    }

    #[test]
    fn qn_handles_large_inputs_quickly() {
        // O(n²) would be 2·10¹¹ pairs here; the selection finishes in well under a second.
        let mut rng = SplitMix64(5);
        let values: Vec<f64> = (0..200_000).map(|_| 20.0 + rng.next_f64()).collect();
        let value = qn(&values).expect("non-empty");
        // Uniform(0, 1): the population Qn is about 2.21914 · 0.1310 ≈ 0.29.
        assert!(value > 0.25 && value < 0.33, "{value}");
    }

    // --- normal quantile ---------------------------------------------------------------------

    #[test]
    fn normal_quantile_known_values() {
        let cases = [
            (0.01, -2.3263478740408411009),
            (0.95, 1.6448536269514727149),
            (0.5, 0.0),
            (0.975, 1.9599639845400542355),
            (1e-10, -6.3613409024040562047),
            (1e-300, -37.047096299361199237),
        ];
        for (p, expected) in cases {
            let value = normal_quantile(p).expect("0 < p < 1");
            assert!(
                (value - expected).abs() <= 1e-14 * expected.abs().max(1.0),
                "qnorm({p})"
            );
        }
        assert!((normal_quantile(0.01).expect("valid") + 2.326347874).abs() < 1e-9);
        assert!((normal_quantile(0.95).expect("valid") - 1.644853627).abs() < 1e-9);
        for p in [0.0, 1.0, -0.1, 1.5, f64::NAN] {
            assert_eq!(normal_quantile(p), None, "{p}");
        }
    }

    // --- Student t quantile ------------------------------------------------------------------

    #[test]
    fn student_t_quantile_r_values() {
        // Values quoted from R in the task (to 1e-6 absolute at least).
        let cases = [
            (0.05, 1.0, -6.313751515),
            (0.05, 3.0, -2.353363435),
            (0.05, 10.0, -1.812461123),
            (0.95, 30.0, 1.697260887),
            (0.01, 5.0, -3.364929997),
            (0.5, 7.0, 0.0),
            (0.05, 100.0, -1.660234326),
        ];
        for (p, df, expected) in cases {
            let value = student_t_quantile(p, df).expect("valid input");
            assert!((value - expected).abs() < 1e-6, "qt({p}, {df}) = {value}");
        }
        assert_eq!(student_t_quantile(0.5, 7.0), Some(0.0));
    }

    #[test]
    fn student_t_quantile_high_precision_values() {
        // 20-digit references from the t CDF evaluated with mpmath at 50 digits.
        let cases = [
            (0.05, 1.0, -6.3137515146750427427),
            (0.05, 3.0, -2.3533634348018238165),
            (0.05, 10.0, -1.8124611228116763796),
            (0.95, 30.0, 1.6972608865939573837),
            (0.01, 5.0, -3.3649299989072185737),
            (0.05, 100.0, -1.660234326085339528),
            (0.05, 2.5, -2.5582186141359365506),
            (0.001, 1.5, -52.184430008992646936),
            (1e-10, 1.0, -3183098861.8379065993),
            (1e-10, 4.0, -416.17514032960412353),
            (0.4, 7.0, -0.26316686135202275215),
            (0.49, 3.0, -0.027211467049118020418),
            (0.999, 2.0, 22.32712477011986549),
            (0.05, 1000.0, -1.6463788172854646886),
            (0.05, 1e5, -1.644868864784969707),
            (1e-20, 3.0, -4795275.7204689731896),
            (0.25, 1.0, -1.0),
            (0.3, 0.5, -1.0095258786071661156),
            (1e-5, 50.0, -4.7110081125447467662),
            (0.975, 12.3, 2.1729334817589620185),
            (1e-100, 1.0, -3.1830988618379066517e99),
            (1e-300, 1.0, -3.1830988618379066356e299),
            (1e-300, 10.0, -2.5645257189481978216e30),
            (0.05, 1e6, -1.6448551507220404657),
            (1e-10, 1e6, -6.3614068488767426196),
            (0.499999999999, 5.0, -2.6342472487707528343e-12),
        ];
        for (p, df, expected) in cases {
            let value = student_t_quantile(p, df).expect("valid input");
            assert_close(value, expected, 1e-10);
        }
    }

    #[test]
    fn student_t_quantile_symmetry_and_monotonicity() {
        for df in [1.0, 1.7, 3.0, 8.0, 29.5, 250.0, 4e4] {
            let mut previous = f64::NEG_INFINITY;
            for i in 1..200 {
                let p = i as f64 / 200.0;
                let t = student_t_quantile(p, df).expect("valid input");
                let mirrored = student_t_quantile(1.0 - p, df).expect("valid input");
                assert!(
                    (t + mirrored).abs() <= 1e-12 * t.abs().max(1e-300),
                    "df {df}, p {p}"
                );
                assert!(t > previous, "df {df}, p {p}: {t} after {previous}");
                previous = t;
            }
        }
    }

    #[test]
    fn student_t_quantile_approaches_normal() {
        for p in [1e-8, 0.01, 0.05, 0.3, 0.9] {
            let z = normal_quantile(p).expect("valid");
            let t = student_t_quantile(p, 1e9).expect("valid");
            assert_close(t, z, 1e-8);
            assert_eq!(student_t_quantile(p, f64::INFINITY), Some(z));
            // Both sides of the asymptotic switch agree.
            let below = student_t_quantile(p, DF_ASYMPTOTIC).expect("valid");
            let above = student_t_quantile(p, DF_ASYMPTOTIC * (1.0 + 1e-12)).expect("valid");
            assert_close(above, below, 1e-11);
        }
    }

    #[test]
    fn student_t_quantile_overflow_is_infinite() {
        // The true quantiles are about −1e333 and −1e1000.
        assert_eq!(student_t_quantile(1e-100, 0.3), Some(f64::NEG_INFINITY));
        assert_eq!(student_t_quantile(1e-300, 0.3), Some(f64::NEG_INFINITY));
        // Upper tail, still representable (p = 1 − 1.1e-16 as an f64).
        let t = student_t_quantile(1.0 - 1e-16, 0.3).expect("valid input");
        assert_close(t, 4.5722099441388525649e51, 1e-10);
    }

    #[test]
    fn student_t_quantile_rejects_invalid_input() {
        for (p, df) in [
            (0.0, 5.0),
            (1.0, 5.0),
            (-0.5, 5.0),
            (f64::NAN, 5.0),
            (0.05, 0.0),
            (0.05, -3.0),
            (0.05, f64::NAN),
            (0.05, f64::NEG_INFINITY),
        ] {
            assert_eq!(student_t_quantile(p, df), None, "qt({p}, {df})");
        }
    }

    #[test]
    fn crowdqc_m5_thresholds() {
        // m5 compares |x − median| / Qn with |qt(0.05, n_valid − 2)|, n_valid ≥ 5.
        let t3 = student_t_quantile(0.05, 3.0).expect("valid").abs();
        assert!((t3 - 2.353363435).abs() < 1e-9);
        let mut previous = f64::INFINITY;
        for n_valid in 5..500 {
            let t = student_t_quantile(0.05, (n_valid - 2) as f64)
                .expect("valid")
                .abs();
            assert!(t < previous && t > 1.6448536269514722, "n_valid {n_valid}");
            previous = t;
        }
    }
}
