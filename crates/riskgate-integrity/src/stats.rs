//! The few distributions the indicators need, written out so that their
//! tails are exact where counts are small: normal, binomial,
//! Poisson-binomial, chi-square (through the incomplete gamma function),
//! the chi-bar-square mixture that combines one-sided z-scores, the
//! between-officer variance (overdispersion) of a funnel plot, and the
//! multiple-testing tools: the order statistics of many p-values, Simes'
//! combination and Benjamini–Hochberg.

/// Upper tail of the standard normal, P(Z ≥ z).
pub fn normal_sf(z: f64) -> f64 {
    0.5 * erfc(z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit,
/// fractional error below 1.2e-7 everywhere).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let ans = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 { ans } else { 2.0 - ans }
}

/// The z with P(Z ≥ z) = p (Acklam's rational approximation, relative
/// error about 1e-9), clamped to ±8.
pub fn z_of_upper_tail(p: f64) -> f64 {
    let p = p.clamp(1e-15, 1.0 - 1e-15);
    -inverse_normal_cdf(p).clamp(-8.0, 8.0)
}

fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] =
        [7.784_695_709_041_462e-3, 3.224_671_290_700_398e-1, 2.445_134_137_142_996, 3.754_408_661_907_416];
    let lo = 0.02425;
    if p < lo {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - lo {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        -inverse_normal_cdf(1.0 - p)
    }
}

fn ln_gamma(x: f64) -> f64 {
    // Lanczos (g = 7, n = 9).
    const G: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        return (std::f64::consts::PI / (std::f64::consts::PI * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = G[0];
    let t = x + 7.5;
    for (i, g) in G.iter().enumerate().skip(1) {
        a += g / (x + i as f64);
    }
    0.5 * (2.0 * std::f64::consts::PI).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

fn ln_choose(n: u64, k: u64) -> f64 {
    ln_gamma(n as f64 + 1.0) - ln_gamma(k as f64 + 1.0) - ln_gamma((n - k) as f64 + 1.0)
}

/// Mid-p upper tail of a binomial: P(X > x) + ½ P(X = x), X ~ Bin(n, p).
/// The mid-p keeps discrete tails from being conservative for small counts.
pub fn binomial_upper_mid_p(x: u64, n: u64, p: f64) -> f64 {
    if n == 0 || x > n {
        return 1.0;
    }
    if p <= 0.0 {
        return if x == 0 { 0.5 } else { 0.0 };
    }
    if p >= 1.0 {
        return if x == n { 0.5 } else { 1.0 };
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let pmf = |k: u64| (ln_choose(n, k) + k as f64 * lp + (n - k) as f64 * lq).exp();
    let mut tail = 0.5 * pmf(x);
    for k in x + 1..=n {
        let t = pmf(k);
        tail += t;
        if t < 1e-18 * tail && k as f64 > n as f64 * p {
            break;
        }
    }
    tail.min(1.0)
}

/// The distribution of a sum of independent Bernoulli trials with
/// probabilities `ps`: exact below 400 trials, normal with continuity
/// correction above. Returns the mid-p tail on the requested side.
pub fn poisson_binomial_mid_p(ps: &[f64], x: u64, lower: bool) -> f64 {
    let n = ps.len();
    if n == 0 {
        return 1.0;
    }
    if n > 400 {
        let mean: f64 = ps.iter().sum();
        let var: f64 = ps.iter().map(|p| p * (1.0 - p)).sum::<f64>().max(1e-12);
        let z = (x as f64 - mean) / var.sqrt();
        return if lower { normal_sf(-z) } else { normal_sf(z) };
    }
    let pmf = poisson_binomial_pmf(ps);
    let x = (x as usize).min(n);
    let half = 0.5 * pmf[x];
    let side: f64 = if lower { pmf[..x].iter().sum() } else { pmf[x + 1..].iter().sum() };
    (side + half).min(1.0)
}

/// The distribution of the number of successes among independent trials
/// with probabilities `ps` (index k: P(X = k)), by dynamic programming.
fn poisson_binomial_pmf(ps: &[f64]) -> Vec<f64> {
    let mut pmf = vec![0.0; ps.len() + 1];
    pmf[0] = 1.0;
    for (i, &p) in ps.iter().enumerate() {
        let p = p.clamp(0.0, 1.0);
        for k in (1..=i + 1).rev() {
            pmf[k] = pmf[k] * (1.0 - p) + pmf[k - 1] * p;
        }
        pmf[0] *= 1.0 - p;
    }
    pmf
}

/// P(X ≥ x) for the Poisson-binomial sum of `ps` (the conventional,
/// conservative tail: under the null P(p ≤ α) ≤ α, as the truncated
/// product needs). Exact below 400 trials, normal with continuity
/// correction above.
pub fn poisson_binomial_upper(ps: &[f64], x: u64) -> f64 {
    let n = ps.len();
    if x == 0 {
        return 1.0;
    }
    if x as usize > n {
        return 0.0;
    }
    if n > 400 {
        let mean: f64 = ps.iter().sum();
        let var: f64 = ps.iter().map(|p| p * (1.0 - p)).sum::<f64>().max(1e-12);
        return normal_sf((x as f64 - 0.5 - mean) / var.sqrt());
    }
    let pmf = poisson_binomial_pmf(ps);
    pmf[x as usize..].iter().sum::<f64>().clamp(0.0, 1.0)
}

/// P(X ≥ x), X ~ Bin(n, p) (the conventional tail).
pub fn binomial_upper(x: u64, n: u64, p: f64) -> f64 {
    if x == 0 {
        return 1.0;
    }
    if x > n || p <= 0.0 {
        return 0.0;
    }
    if p >= 1.0 {
        return 1.0;
    }
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut tail = 0.0;
    for k in x..=n {
        let t = (ln_choose(n, k) + k as f64 * lp + (n - k) as f64 * lq).exp();
        tail += t;
        if t < 1e-18 * tail && k as f64 > n as f64 * p {
            break;
        }
    }
    tail.min(1.0)
}

/// How unusual the smallest p-values of `l` tests are together: for the
/// j-th smallest, p₍ⱼ₎, chance gives j or more tests that small with
/// probability P(Bin(l, p₍ⱼ₎) ≥ j) (exact for independent tests whose
/// p-values satisfy P(p ≤ t) ≤ t); the result is the smallest of these
/// over j = 1..=`depth`, Bonferroni-adjusted (× depth). `small` holds the
/// p-values worth looking at (the others are larger than all of them).
/// Three traders each concentrated at p ≈ 10⁻³ among a hundred tested are
/// far less likely by chance than one of them alone, which the minimum
/// p-value (Šidák) cannot see.
pub fn order_statistics_p(small: &[f64], l: usize, depth: usize) -> f64 {
    let mut v: Vec<f64> = small.to_vec();
    v.sort_by(f64::total_cmp);
    let best = v
        .iter()
        .take(depth)
        .enumerate()
        .map(|(j, &p)| binomial_upper(j as u64 + 1, l.max(v.len()) as u64, p))
        .fold(1.0, f64::min);
    (best * depth as f64).min(1.0)
}

/// The lattice step of the CUSUM statistics (in nats): every increment is
/// rounded *up* to a multiple of it, so the statistic lives on a grid and
/// its null distribution is computed exactly by dynamic programming.
pub const CUSUM_GRID: f64 = 0.01;

/// One record of a Bernoulli CUSUM: the event's probability under the null
/// (`p0`) and under the alternative (`p1`), and the increments of the
/// log-likelihood ratio in grid units if the event happens or not.
#[derive(Debug, Clone, Copy)]
pub struct CusumStep {
    pub p0: f64,
    up: i64,
    down: i64,
}

impl CusumStep {
    /// A record whose event has probability `p0` under the null and `p1`
    /// under the alternative (both clamped into (0, 1)).
    pub fn new(p0: f64, p1: f64) -> CusumStep {
        let (p0, p1) = (p0.clamp(1e-6, 1.0 - 1e-6), p1.clamp(1e-6, 1.0 - 1e-6));
        let grid = |llr: f64| (llr / CUSUM_GRID).ceil() as i64;
        CusumStep { p0, up: grid((p1 / p0).ln()), down: grid(((1.0 - p1) / (1.0 - p0)).ln()) }
    }
}

/// Page's CUSUM over `steps` with the observed `events`: S₀ = 0,
/// Sₜ = max(0, Sₜ₋₁ + increment). Returns the largest Sₜ in grid units and
/// the segment that produced it: the first record after the last reset to
/// 0 before the maximum, and the record of the maximum (both indices).
pub fn cusum_path(steps: &[CusumStep], events: &[bool]) -> (i64, usize, usize) {
    let (mut s, mut start, mut best) = (0i64, 0usize, (0i64, 0usize, 0usize));
    for (t, (st, &e)) in steps.iter().zip(events).enumerate() {
        if s == 0 {
            start = t;
        }
        s = (s + if e { st.up } else { st.down }).max(0);
        if s > best.0 {
            best = (s, start, t);
        }
    }
    best
}

/// P(max over t of Sₜ ≥ `h` grid units) when every record's event happens
/// independently with its null probability: exact on the grid (dynamic
/// programming over the CUSUM's states 0..h, h absorbing; n·h operations).
pub fn cusum_tail(steps: &[CusumStep], h: i64) -> f64 {
    cusum_tail_scaled(steps, h, 1.0)
}

/// The same tail when every record's null probability is `factor` times
/// its `p0` (clamped into (0, 1)).
fn cusum_tail_scaled(steps: &[CusumStep], h: i64, factor: f64) -> f64 {
    if h <= 0 {
        return 1.0;
    }
    let h = h as usize;
    let mut dist = vec![0.0f64; h];
    let mut next = vec![0.0f64; h];
    dist[0] = 1.0;
    let mut absorbed = 0.0;
    for st in steps {
        next.iter_mut().for_each(|x| *x = 0.0);
        for (s, &m) in dist.iter().enumerate() {
            if m == 0.0 {
                continue;
            }
            let p = (st.p0 * factor).clamp(1e-9, 1.0 - 1e-9);
            for (inc, q) in [(st.up, p), (st.down, 1.0 - p)] {
                let to = (s as i64 + inc).max(0) as usize;
                if to >= h {
                    absorbed += m * q;
                } else {
                    next[to] += m * q;
                }
            }
        }
        std::mem::swap(&mut dist, &mut next);
    }
    absorbed.clamp(0.0, 1.0)
}

/// The CUSUM tail when the subject's own rate differs from the null by a
/// factor that varies between honest subjects (overdispersion, as the
/// whole-period indicators are deflated by τ²): the factor is log-normal
/// with mean 1 and standard deviation `sd`, integrated by 5-point
/// Gauss–Hermite quadrature. `sd` = 0 is [`cusum_tail`].
pub fn cusum_tail_overdispersed(steps: &[CusumStep], h: i64, sd: f64) -> f64 {
    if sd.is_nan() || sd <= 1e-6 {
        return cusum_tail(steps, h);
    }
    // Nodes and weights of the standard normal (probabilists' Hermite).
    const NODES: [(f64, f64); 5] = [
        (-2.856_970_013_872_806, 0.011_257_411_327_720_69),
        (-1.355_626_179_974_266, 0.222_075_922_005_612_6),
        (0.0, 0.533_333_333_333_333_3),
        (1.355_626_179_974_266, 0.222_075_922_005_612_6),
        (2.856_970_013_872_806, 0.011_257_411_327_720_69),
    ];
    let sl = (1.0 + sd * sd).ln().sqrt();
    NODES.iter().map(|&(x, w)| w * cusum_tail_scaled(steps, h, (sl * x - sl * sl / 2.0).exp())).sum::<f64>().min(1.0)
}

/// The CUSUM tail for records that share one event rate known only
/// through peers: the rate has a Beta(`alpha`, `beta`) distribution (the
/// peers' events and non-events plus a prior), so under the null the
/// officer's records form a Pólya urn: the t-th record (0-based) is an
/// event with probability (`alpha` + k)/(`alpha` + `beta` + t) after k
/// events. Exact by dynamic programming over (CUSUM state, k); k is capped
/// at 60 (beyond it the chance of an event is taken at k = 60; a path with
/// 60 events of a rare kind has long crossed any threshold). Two overrides
/// where the peers made none in a few hundred actions are then weak
/// evidence; twenty are not.
pub fn cusum_tail_polya(step: CusumStep, n: usize, h: i64, alpha: f64, beta: f64) -> f64 {
    const KCAP: usize = 60;
    if h <= 0 {
        return 1.0;
    }
    let h = h as usize;
    let width = KCAP + 1;
    let mut dist = vec![0.0f64; h * width];
    let mut next = vec![0.0f64; h * width];
    dist[0] = 1.0;
    let mut absorbed = 0.0;
    for t in 0..n {
        next.iter_mut().for_each(|x| *x = 0.0);
        for s in 0..h {
            for k in 0..=KCAP.min(t) {
                let m = dist[s * width + k];
                if m == 0.0 {
                    continue;
                }
                let p = ((alpha + k as f64) / (alpha + beta + t as f64)).clamp(0.0, 1.0);
                for (inc, q, k2) in [(step.up, p, (k + 1).min(KCAP)), (step.down, 1.0 - p, k)] {
                    let to = (s as i64 + inc).max(0) as usize;
                    if to >= h {
                        absorbed += m * q;
                    } else {
                        next[to * width + k2] += m * q;
                    }
                }
            }
        }
        std::mem::swap(&mut dist, &mut next);
    }
    absorbed.clamp(0.0, 1.0)
}

/// Simes' combination of p-values: min over j of n·p₍ⱼ₎ / j. A valid
/// p-value for "none of these is a signal" when the tests are independent
/// or positively dependent (nested windows of the same data are).
pub fn simes(ps: &[f64]) -> f64 {
    let mut v: Vec<f64> = ps.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len() as f64;
    v.iter().enumerate().map(|(j, p)| n * p / (j + 1) as f64).fold(1.0, f64::min)
}

/// Benjamini–Hochberg at false-discovery rate `q`: which of `ps` are
/// rejected. Under the complete null (nobody colludes) the chance of any
/// rejection is at most `q`; otherwise the expected share of false ones
/// among the rejected is at most `q` (independent or positively dependent tests).
pub fn benjamini_hochberg(ps: &[f64], q: f64) -> Vec<bool> {
    let m = ps.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|&a, &b| ps[a].total_cmp(&ps[b]));
    let mut cut = None;
    for (rank, &i) in order.iter().enumerate() {
        if ps[i] <= q * (rank + 1) as f64 / m as f64 {
            cut = Some(ps[i]);
        }
    }
    ps.iter().map(|p| cut.is_some_and(|c| *p <= c)).collect()
}

/// Regularised upper incomplete gamma Q(a, x) (series below a + 1,
/// continued fraction above; Numerical Recipes' gammq).
fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let gln = ln_gamma(a);
    if x < a + 1.0 {
        let (mut ap, mut sum) = (a, 1.0 / a);
        let mut del = sum;
        for _ in 0..500 {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-15 {
                break;
            }
        }
        1.0 - sum * (-x + a * x.ln() - gln).exp()
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..500 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-15 {
                break;
            }
        }
        (-x + a * x.ln() - gln).exp() * h
    }
}

/// P(χ²_k ≥ t).
pub fn chi_square_sf(k: usize, t: f64) -> f64 {
    if k == 0 {
        return if t > 0.0 { 0.0 } else { 1.0 };
    }
    gamma_q(k as f64 / 2.0, t / 2.0).clamp(0.0, 1.0)
}

/// Combines `m` one-sided z-scores into one tail probability: under the
/// null each max(0, z)² is 0 half the time and χ²₁ otherwise, so
/// T = Σ max(0, zᵢ)² follows the chi-bar-square mixture
/// Σⱼ C(m, j) 2⁻ᵐ χ²ⱼ. Signals in several indicators add up; a signal in
/// the innocent direction never offsets one in the suspicious direction.
pub fn chi_bar_square_sf(zs: &[f64]) -> f64 {
    let m = zs.len();
    let t: f64 = zs.iter().map(|z| z.max(0.0).powi(2)).sum();
    if t <= 0.0 {
        return 1.0;
    }
    let mut p = 0.0;
    for j in 1..=m {
        let w = (ln_choose(m as u64, j as u64) - m as f64 * std::f64::consts::LN_2).exp();
        p += w * chi_square_sf(j, t);
    }
    p.clamp(1e-300, 1.0)
}

/// Between-unit variance τ² of estimates `ys` with null variances `vs`
/// around `y0s` (DerSimonian–Laird on winsorised z-scores, as in
/// Spiegelhalter's overdispersed funnel plots): the spread that legitimate
/// differences between officers add beyond sampling noise. Zero when the
/// spread is no wider than chance.
pub fn between_variance(points: &[(f64, f64, f64)], winsor: f64) -> f64 {
    let pts: Vec<(f64, f64)> =
        points.iter().filter(|(_, _, v)| *v > 0.0).map(|(y, y0, v)| ((y - y0) / v.sqrt(), *v)).collect();
    let n = pts.len();
    if n < 5 {
        return 0.0;
    }
    let mut zs: Vec<f64> = pts.iter().map(|p| p.0).collect();
    zs.sort_by(f64::total_cmp);
    let k = ((n as f64) * winsor).floor() as usize;
    let (lo, hi) = (zs[k], zs[n - 1 - k]); // k ≤ n / 10 with n ≥ 5
    let phi_n: f64 = pts.iter().map(|(z, _)| z.clamp(lo, hi).powi(2)).sum();
    let ws: f64 = pts.iter().map(|(_, v)| 1.0 / v).sum();
    let ws2: f64 = pts.iter().map(|(_, v)| 1.0 / (v * v)).sum();
    let denom = ws - ws2 / ws;
    if denom <= 0.0 {
        return 0.0;
    }
    ((phi_n - (n as f64 - 1.0)) / denom).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_match_known_values() {
        assert!((normal_sf(1.96) - 0.025).abs() < 1e-4);
        assert!((z_of_upper_tail(0.025) - 1.96).abs() < 1e-3);
        assert!((z_of_upper_tail(0.5)).abs() < 1e-9);
        // P(X ≥ 3), X ~ Bin(5, 0.5) = 0.5; mid-p: P(X > 3) + ½P(X = 3) = 6/32 + 5/32.
        assert!((binomial_upper_mid_p(3, 5, 0.5) - 11.0 / 32.0).abs() < 1e-9);
        // Poisson-binomial with equal p is the binomial.
        let ps = vec![0.5; 5];
        assert!((poisson_binomial_mid_p(&ps, 3, false) - 11.0 / 32.0).abs() < 1e-9);
        assert!((poisson_binomial_mid_p(&ps, 1, true) - (1.0 + 2.5) / 32.0).abs() < 1e-9);
        assert!((chi_square_sf(1, 3.841) - 0.05).abs() < 1e-3);
        assert!((chi_square_sf(4, 9.488) - 0.05).abs() < 1e-3);
        // One z: chi-bar-square is the one-sided normal tail.
        assert!((chi_bar_square_sf(&[2.0]) - normal_sf(2.0)).abs() < 1e-6);
        assert_eq!(chi_bar_square_sf(&[-1.0, -3.0]), 1.0);
    }

    #[test]
    fn multiple_testing_tools_match_known_values() {
        // One test: the p-value itself (× depth).
        assert!((order_statistics_p(&[0.03], 1, 1) - 0.03).abs() < 1e-12);
        // Nothing small: no evidence.
        assert_eq!(order_statistics_p(&[], 50, 3), 1.0);
        // Three modest signals among 100 tests (with chance ones beside
        // them) say more together than the best one alone (Šidák).
        let together = order_statistics_p(&[2e-4, 5e-4, 1e-3, 0.02, 0.04], 100, 5);
        let sidak = 1.0 - (1.0f64 - 2e-4).powi(100);
        assert!(together < sidak / 10.0, "{together} vs {sidak}");
        // P(X ≥ 2), X ~ Bin(3, 0.5) = 4/8.
        assert!((binomial_upper(2, 3, 0.5) - 0.5).abs() < 1e-12);
        assert!((simes(&[0.01, 0.04, 0.5]) - 0.03).abs() < 1e-12);
        assert_eq!(benjamini_hochberg(&[0.001, 0.02, 0.03, 0.5], 0.05), vec![true, true, true, false]);
        assert_eq!(benjamini_hochberg(&[0.02, 0.5], 0.02), vec![false, false]);
        // P(X ≥ 2), X ~ Bin(3, 0.5) = 4/8.
        assert!((poisson_binomial_upper(&[0.5; 3], 2) - 0.5).abs() < 1e-12);
    }

    #[test]
    fn order_statistics_p_is_valid_under_the_null() {
        // 20,000 draws of 40 uniform p-values (a fixed LCG): P(p ≤ α) ≤ α.
        let mut s = 12345u64;
        let mut u = || {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        };
        let (mut below_05, mut below_01) = (0, 0);
        for _ in 0..20_000 {
            let small: Vec<f64> = (0..40).map(|_| u()).filter(|p| *p <= 0.05).collect();
            let p = order_statistics_p(&small, 40, 5);
            below_05 += usize::from(p <= 0.05);
            below_01 += usize::from(p <= 0.01);
        }
        assert!(below_05 <= 1100, "{below_05} of 20000 at 0.05");
        assert!(below_01 <= 240, "{below_01} of 20000 at 0.01");
        assert!(below_05 >= 300, "not uselessly conservative: {below_05} of 20000 at 0.05");
    }

    /// A fixed LCG for the simulations below (deterministic).
    fn lcg(seed: u64) -> impl FnMut() -> f64 {
        let mut s = seed;
        move || {
            s = s.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (s >> 11) as f64 / (1u64 << 53) as f64
        }
    }

    #[test]
    fn cusum_tail_is_exact_on_the_grid() {
        // Ten records with different null probabilities: every one of the
        // 2¹⁰ outcomes enumerated: the tail equals the enumeration.
        let steps: Vec<CusumStep> =
            (0..10).map(|i| CusumStep::new(0.05 + 0.02 * i as f64, 0.5 + 0.02 * i as f64)).collect();
        for h in [1, 50, 150, 250, 320, 400, 500, 700] {
            let mut brute = 0.0;
            for mask in 0u32..1024 {
                let events: Vec<bool> = (0..10).map(|i| mask >> i & 1 == 1).collect();
                let prob: f64 = steps.iter().zip(&events).map(|(s, &e)| if e { s.p0 } else { 1.0 - s.p0 }).product();
                if cusum_path(&steps, &events).0 >= h {
                    brute += prob;
                }
            }
            let tail = cusum_tail(&steps, h);
            assert!((tail - brute).abs() < 1e-12, "h {h}: {tail} vs {brute}");
            assert!(brute > 0.0 && brute < 1.0, "h {h}: {brute}");
        }
        // The segment: an event, a reset after five records without one,
        // then two events in a row.
        let same = vec![CusumStep::new(0.1, 0.3); 8];
        let (h, from, to) = cusum_path(&same, &[true, false, false, false, false, false, true, true]);
        assert_eq!((from, to), (6, 7));
        assert_eq!(h, 2 * same[0].up);
    }

    #[test]
    fn cusum_tail_polya_is_exact_and_tends_to_the_known_rate() {
        // Eight records, rate ~ Beta(0.5, 20): every outcome enumerated
        // with its Pólya-urn probability.
        let step = CusumStep::new(0.02, 0.2);
        let (a, b) = (0.5, 20.0);
        for h in [100, 230, 300, 460, 700] {
            let mut brute = 0.0;
            for mask in 0u32..256 {
                let events: Vec<bool> = (0..8).map(|i| mask >> i & 1 == 1).collect();
                let (mut prob, mut k) = (1.0, 0.0);
                for (t, &e) in events.iter().enumerate() {
                    let p = (a + k) / (a + b + t as f64);
                    prob *= if e { p } else { 1.0 - p };
                    k += f64::from(u8::from(e));
                }
                if cusum_path(&[step; 8], &events).0 >= h {
                    brute += prob;
                }
            }
            let tail = cusum_tail_polya(step, 8, h, a, b);
            assert!((tail - brute).abs() < 1e-12, "h {h}: {tail} vs {brute}");
        }
        // A rate known from a million peer records: the binomial tail.
        let known = cusum_tail(&[step; 40], 460);
        let polya = cusum_tail_polya(step, 40, 460, 0.02 * 1e6, 0.98 * 1e6);
        assert!((known - polya).abs() < 1e-3 * known, "{known} vs {polya}");
        // Two events in 33 records where the peers made none in 180 (a
        // Jeffreys prior plus a little of the national rate): the rate taken
        // as known (their posterior mean, 0.3%) would call it strong
        // evidence, the uncertain rate does not.
        let (a, b) = (0.56, 210.0);
        let rare = CusumStep::new(a / (a + b), 10.0 * a / (a + b));
        let events: Vec<bool> = (0..33).map(|t| t == 30 || t == 31).collect();
        let h = cusum_path(&[rare; 33], &events).0;
        let (known, polya) = (cusum_tail(&[rare; 33], h), cusum_tail_polya(rare, 33, h, a, b));
        assert!(polya > 3.0 * known && polya > 1e-3, "known {known:e}, uncertain {polya:e}");
    }

    #[test]
    fn cusum_p_values_are_not_anti_conservative() {
        // 5,000 honest sequences of 80 records (null probabilities between
        // 0.02 and 0.3, fixed seed): P(p ≤ α) ≤ α, up to simulation error.
        let mut u = lcg(2026);
        let alphas = [0.001, 0.01, 0.05, 0.1, 0.2];
        let mut below = [0usize; 5];
        let runs = 5_000;
        for _ in 0..runs {
            let steps: Vec<CusumStep> = (0..80)
                .map(|_| {
                    let p = 0.02 + 0.28 * u();
                    CusumStep::new(p, 4.0 * p / (1.0 + 3.0 * p))
                })
                .collect();
            let events: Vec<bool> = steps.iter().map(|s| u() < s.p0).collect();
            let p = cusum_tail(&steps, cusum_path(&steps, &events).0);
            for (k, a) in alphas.iter().enumerate() {
                below[k] += usize::from(p <= *a);
            }
        }
        for (k, a) in alphas.iter().enumerate() {
            let expected = a * runs as f64;
            // Three binomial standard errors above α·runs (and 3 events).
            let limit = expected + 3.0 * (expected * (1.0 - a)).sqrt() + 3.0;
            assert!((below[k] as f64) <= limit, "α {a}: {} of {runs} (limit {limit:.0})", below[k]);
        }
        // Not uselessly conservative either.
        assert!(below[3] as f64 >= 0.4 * 0.1 * runs as f64, "{below:?}");
        // The same for the findings' direction (fewer events than the null).
        let mut u = lcg(7);
        let mut low = 0;
        for _ in 0..2_000 {
            let steps: Vec<CusumStep> = (0..60)
                .map(|_| {
                    let p = 0.05 + 0.4 * u();
                    CusumStep::new(p, 0.5 * p)
                })
                .collect();
            let events: Vec<bool> = steps.iter().map(|s| u() < s.p0).collect();
            low += usize::from(cusum_tail(&steps, cusum_path(&steps, &events).0) <= 0.05);
        }
        assert!(low <= 100 + 3 * 10 + 3, "{low} of 2000 at 0.05");
    }

    #[test]
    fn cusum_sees_a_mid_period_shift_before_the_whole_period_test() {
        // 300 records at a 10% event rate, 30% from record 150 on; both
        // tests are run on the first t records (every fifth t) until the
        // tail is ≤ 10⁻³. Twelve seeds: the CUSUM is earlier in median.
        let first = |seed: u64| {
            let mut u = lcg(seed);
            let events: Vec<bool> = (0..300).map(|t| u() < if t < 150 { 0.1 } else { 0.3 }).collect();
            let steps = vec![CusumStep::new(0.1, 0.4 / 1.3); 300];
            let (mut cusum, mut whole) = (None, None);
            for t in (150..=300).step_by(5) {
                if cusum.is_none() && cusum_tail(&steps[..t], cusum_path(&steps[..t], &events[..t]).0) <= 1e-3 {
                    cusum = Some(t - 150);
                }
                let x = events[..t].iter().filter(|e| **e).count() as u64;
                if whole.is_none() && binomial_upper_mid_p(x, t as u64, 0.1) <= 1e-3 {
                    whole = Some(t - 150);
                }
            }
            (cusum.unwrap_or(999), whole.unwrap_or(999))
        };
        let (mut c, mut w): (Vec<usize>, Vec<usize>) = (1..=12).map(first).unzip();
        c.sort_unstable();
        w.sort_unstable();
        assert!(c[6] < w[6], "records after the shift to 10⁻³: CUSUM {c:?}, whole period {w:?}");
    }

    #[test]
    fn overdispersion_is_zero_for_chance_spread_and_positive_beyond() {
        // Within ±1 standard error of the mean: no excess spread.
        let chance: Vec<(f64, f64, f64)> = (0..40).map(|i| (if i % 2 == 0 { 0.9 } else { -0.9 }, 0.0, 1.0)).collect();
        assert_eq!(between_variance(&chance, 0.1), 0.0);
        let wide: Vec<(f64, f64, f64)> = (0..40).map(|i| (if i % 2 == 0 { 3.0 } else { -3.0 }, 0.0, 1.0)).collect();
        assert!((between_variance(&wide, 0.1) - 8.0).abs() < 0.5);
    }
}
