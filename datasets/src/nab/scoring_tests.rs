//! Hand-computed cases for the NAB scorer (the arithmetic is in the comments).
use super::*;

const STD: CostMatrix = CostMatrix {
    tp: 1.0,
    fp: 0.11,
    fn_: 1.0,
    tn: 1.0,
};
// One 100-row file, window rows 40..=49 (W = 10); probation = floor(15) = 15 rows.
const W: [Window; 1] = [Window { start: 40, end: 49 }];

fn detections(rows: &[usize]) -> Vec<f64> {
    let mut s = vec![0.0; 100];
    for &r in rows {
        s[r] = 1.0;
    }
    s
}

fn raw(rows: &[usize]) -> f64 {
    let s = detections(rows);
    score_file(
        &ScoredFile {
            key: "f",
            windows: &W,
            scores: &s,
        },
        &STD,
        0.5,
    )
    .unwrap()
    .raw_score
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-6, "{a} vs {b}");
}

#[test]
fn sigmoid_landmarks() {
    // σ(−1) = 2/(1+e^−5) − 1 = 0.986614; σ(0) = 0; σ(y ≥ 3) = −1.
    close(scaled_sigmoid(-1.0), 0.986_614_3);
    close(scaled_sigmoid(0.0), 0.0);
    assert_eq!(scaled_sigmoid(3.0), -1.0);
    assert_eq!(probation_rows(100), 15);
    assert_eq!(probation_rows(10_000), 750);
}

#[test]
fn detection_at_window_start_earns_a_tp() {
    // y = −(49−40+1)/10 = −1 → A_tp·σ(−1)/σ(−1) = 1.
    close(raw(&[40]), 1.0);
    // Later detections in the same window do not add anything.
    close(raw(&[40, 45, 49]), 1.0);
}

#[test]
fn detection_at_window_end() {
    // y = −(49−49+1)/10 = −0.1 → σ = 2/(1+e^−0.5) − 1 = 0.2449187; /0.9866143 = 0.2482415.
    close(raw(&[49]), 0.248_241_55);
    // Middle row 45: y = −0.5 → σ = 0.8482836 / 0.9866143 = 0.8597926.
    close(raw(&[45]), 0.859_792_57);
}

#[test]
fn missed_window_and_false_positives() {
    // Nothing: −A_fn = −1.
    close(raw(&[]), -1.0);
    // FP at row 90: y = (90−49)/(10−1) = 4.56 ≥ 3 → −0.11; plus the miss: −1.11.
    close(raw(&[90]), -1.11);
    // FP at row 20, no window before it: −A_fp; plus the miss: −1.11.
    close(raw(&[20]), -1.11);
    // FP at row 52 after a TP at 40: y = 3/9 → σ = 2/(1+e^{5/3}) − 1 = −0.6822618
    // → 0.11·σ = −0.0750488; total 1 − 0.0750488 = 0.9249512.
    close(raw(&[40, 52]), 0.924_951_2);
    // Rows in probation (< 15) are ignored.
    close(raw(&[10]), -1.0);
}

#[test]
fn row_counts() {
    let s = detections(&[40, 41, 90]);
    let o = score_file(
        &ScoredFile {
            key: "f",
            windows: &W,
            scores: &s,
        },
        &STD,
        0.5,
    )
    .unwrap();
    // 85 scored rows: 10 in the window (2 hit), 75 outside (1 hit).
    assert_eq!((o.tp, o.fn_, o.fp, o.tn), (2, 8, 1, 74));
    assert_eq!((o.windows_detected, o.windows_missed), (1, 0));
}

#[test]
fn null_and_perfect_normalise_to_0_and_100() {
    let profiles = Profile::nab_defaults();
    let null = vec![0.0; 100];
    let r = score_corpus(
        &[ScoredFile {
            key: "f",
            windows: &W,
            scores: &null,
        }],
        &profiles,
    )
    .unwrap();
    for p in &r {
        close(p.normalized, 0.0);
        assert_eq!(p.threshold, NO_DETECTION_THRESHOLD);
    }
    let perfect = detections(&[40]);
    let r = score_corpus(
        &[ScoredFile {
            key: "f",
            windows: &W,
            scores: &perfect,
        }],
        &profiles,
    )
    .unwrap();
    for p in &r {
        close(p.normalized, 100.0);
    }
}

#[test]
fn end_detection_normalises() {
    // S = 0.2482415, S_null = −1, S_perfect = 1 → 100·1.2482415/2 = 62.41208.
    let s = detections(&[49]);
    let r = score_corpus(
        &[ScoredFile {
            key: "f",
            windows: &W,
            scores: &s,
        }],
        &Profile::nab_defaults(),
    )
    .unwrap();
    close(r[0].normalized, 62.412_077_5);
}

#[test]
fn sweep_picks_best_corpus_threshold() {
    // File a: 0.9 at the window start, 0.5 far away (row 90); file b: no windows,
    // 0.5 at row 30 (FP with no preceding window, −0.11).
    // thr 1.1: −1; thr 0.9: +1; thr 0.5: 1 − 0.11 − 0.11 = 0.78 → best 0.9.
    let mut a = vec![0.1; 100];
    a[40] = 0.9;
    a[90] = 0.5;
    let mut b = vec![0.1; 100];
    b[30] = 0.5;
    let files = [
        ScoredFile {
            key: "a",
            windows: &W,
            scores: &a,
        },
        ScoredFile {
            key: "b",
            windows: &[],
            scores: &b,
        },
    ];
    let (t, s) = sweep_threshold(&files, &STD).unwrap();
    assert_eq!(t, 0.9);
    close(s, 1.0);
    let r = score_corpus(&files, &[Profile::nab_defaults()[0].clone()]).unwrap();
    close(r[0].normalized, 100.0);
    assert_eq!(r[0].files[1].fp, 0);
}

#[test]
fn sweep_agrees_with_direct_scoring() {
    // Pseudo-random scores on two files: the swept best equals direct scoring at
    // the chosen threshold, and no other candidate threshold does better.
    let mut rng = crate::rng::Rng::new(11);
    let a: Vec<f64> = (0..300)
        .map(|_| (rng.f64() * 20.0).floor() / 20.0)
        .collect();
    let b: Vec<f64> = (0..200)
        .map(|_| (rng.f64() * 20.0).floor() / 20.0)
        .collect();
    let wa = [
        Window {
            start: 100,
            end: 129,
        },
        Window {
            start: 200,
            end: 219,
        },
    ];
    let wb = [Window {
        start: 150,
        end: 150,
    }];
    let files = [
        ScoredFile {
            key: "a",
            windows: &wa,
            scores: &a,
        },
        ScoredFile {
            key: "b",
            windows: &wb,
            scores: &b,
        },
    ];
    for p in Profile::nab_defaults() {
        let (t, s) = sweep_threshold(&files, &p.costs).unwrap();
        let at = |thr: f64| -> f64 {
            files
                .iter()
                .map(|f| score_file(f, &p.costs, thr).unwrap().raw_score)
                .sum()
        };
        close(at(t), s);
        for k in 0..=21 {
            assert!(at(k as f64 / 20.0) <= s + 1e-9);
        }
    }
}

#[test]
fn rejects_bad_windows() {
    let s = vec![0.0; 10];
    let w = [Window { start: 5, end: 12 }];
    assert!(
        score_file(
            &ScoredFile {
                key: "f",
                windows: &w,
                scores: &s
            },
            &STD,
            0.5
        )
        .is_err()
    );
}
