//! Fields that rise with arrival: clocks, sequence numbers, offsets. A
//! baseline is the stream's past, so such a field's every new value is past
//! its range; that is its nature, not news. Going back below the range still is.

/// Values a field needs before it can be taken for a clock.
const MIN_VALUES: usize = 20;
/// Spearman's correlation between a field's values and their arrival order
/// from which it is a clock. An exchangeable field's correlation over `n`
/// values has a spread of `1/√(n−1)` (0.23 at 20 values), and a level shift
/// inside the baseline (two halves) reaches at most √3/2 ≈ 0.87; a clock
/// whose lines arrive a little out of order stays above 0.99.
const MIN_CORRELATION: f64 = 0.98;

/// Whether `values`, in arrival order, rise with it (see the module doc).
pub(super) fn rises_with_arrival(values: &[f64]) -> bool {
    let n = values.len();
    if n < MIN_VALUES {
        return false;
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    // Ranks, ties sharing their mean rank.
    let mut rank = vec![0.0; n];
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && values[order[j + 1]] == values[order[i]] {
            j += 1;
        }
        for &k in &order[i..=j] {
            rank[k] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    let mean = (n - 1) as f64 / 2.0;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (pos, r) in rank.iter().enumerate() {
        let (x, y) = (pos as f64 - mean, r - mean);
        sxy += x * y;
        sxx += x * x;
        syy += y * y;
    }
    syy > 0.0 && sxy / (sxx * syy).sqrt() >= MIN_CORRELATION
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draw(seed: u64, n: usize) -> Vec<f64> {
        let mut z = seed;
        (0..n)
            .map(|_| {
                z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut x = z;
                x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                ((x ^ (x >> 31)) >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    #[test]
    fn clocks_and_counters_rise_and_noise_or_a_shift_does_not() {
        // Epoch milliseconds, lines up to 30 ms out of order, 37 ms apart.
        let jitter = draw(1, 400);
        let epoch: Vec<f64> = (0..400)
            .map(|i| 1.733e12 + i as f64 * 37.0 + 30.0 * jitter[i])
            .collect();
        assert!(rises_with_arrival(&epoch));
        // A Kafka offset read by four consumers in turn: runs of equal values.
        let offset: Vec<f64> = (0..400).map(|i| 9e5 + (i / 4) as f64).collect();
        assert!(rises_with_arrival(&offset));
        for seed in 0..200 {
            assert!(!rises_with_arrival(&draw(seed, 20)), "noise, seed {seed}");
        }
        // A latency that doubled halfway through the baseline.
        let shifted: Vec<f64> = draw(7, 400)
            .iter()
            .enumerate()
            .map(|(i, u)| 20.0 + 10.0 * u + if i >= 200 { 20.0 } else { 0.0 })
            .collect();
        assert!(!rises_with_arrival(&shifted));
        assert!(!rises_with_arrival(&vec![5.0; 400]), "a constant");
        assert!(!rises_with_arrival(&epoch[..19]), "too few values");
    }
}
