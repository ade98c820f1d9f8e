//! Heatmap peak extraction: 3×3 max-pool suppression + threshold + top-K, done sparsely.
//!
//! A dense max-pool over a 128×128×80 map touches 1.3M cells nine times; instead we scan once
//! for cells above the threshold and only test those against their neighbours. The result is
//! identical to `hmax == heat` masking followed by top-K and thresholding.

/// A read-only view of a `classes × height × width` heatmap with arbitrary strides, so both
/// NCHW and NHWC outputs are read in place.
#[derive(Clone, Copy, Debug)]
pub struct HeatmapView<'a> {
    pub data: &'a [f32],
    pub classes: usize,
    pub height: usize,
    pub width: usize,
    pub stride_c: usize,
    pub stride_y: usize,
    pub stride_x: usize,
}

impl<'a> HeatmapView<'a> {
    pub fn nchw(data: &'a [f32], classes: usize, height: usize, width: usize) -> Self {
        HeatmapView {
            data,
            classes,
            height,
            width,
            stride_c: height * width,
            stride_y: width,
            stride_x: 1,
        }
    }

    pub fn nhwc(data: &'a [f32], classes: usize, height: usize, width: usize) -> Self {
        HeatmapView {
            data,
            classes,
            height,
            width,
            stride_c: 1,
            stride_y: width * classes,
            stride_x: classes,
        }
    }

    #[inline]
    pub fn at(&self, c: usize, y: usize, x: usize) -> f32 {
        self.data[c * self.stride_c + y * self.stride_y + x * self.stride_x]
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peak {
    pub class_id: usize,
    pub y: usize,
    pub x: usize,
    /// The raw heatmap value (a probability, or a logit if the caller passes logits).
    pub value: f32,
}

/// Local maxima (3×3, ties kept) with `value >= threshold`, best first, at most `top_k`.
pub fn find_peaks(
    hm: &HeatmapView<'_>,
    threshold: f32,
    top_k: usize,
    allow: impl Fn(usize) -> bool,
) -> Vec<Peak> {
    let mut peaks = Vec::new();
    for y in 0..hm.height {
        let y0 = y.saturating_sub(1);
        let y1 = (y + 1).min(hm.height - 1);
        for x in 0..hm.width {
            let x0 = x.saturating_sub(1);
            let x1 = (x + 1).min(hm.width - 1);
            for c in 0..hm.classes {
                let v = hm.at(c, y, x);
                if v.is_nan() || v < threshold || !allow(c) {
                    continue;
                }
                let mut is_max = true;
                'n: for ny in y0..=y1 {
                    for nx in x0..=x1 {
                        if hm.at(c, ny, nx) > v {
                            is_max = false;
                            break 'n;
                        }
                    }
                }
                if is_max {
                    peaks.push(Peak {
                        class_id: c,
                        y,
                        x,
                        value: v,
                    });
                }
            }
        }
    }
    let order = |a: &Peak, b: &Peak| {
        b.value
            .total_cmp(&a.value)
            .then((a.y, a.x, a.class_id).cmp(&(b.y, b.x, b.class_id)))
    };
    // Select the best `top_k` in linear time before sorting them: a low threshold on an
    // 80-class map can leave tens of thousands of local maxima.
    if top_k == 0 {
        return Vec::new();
    }
    if peaks.len() > top_k {
        peaks.select_nth_unstable_by(top_k - 1, order);
        peaks.truncate(top_k);
    }
    peaks.sort_by(order);
    peaks
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::Strategy;

    /// Dense reference: max-pool, keep equal cells, threshold, sort, top-k.
    fn dense(hm: &HeatmapView<'_>, t: f32, k: usize) -> Vec<Peak> {
        let mut out = Vec::new();
        for c in 0..hm.classes {
            for y in 0..hm.height {
                for x in 0..hm.width {
                    let mut m = f32::MIN;
                    for ny in y.saturating_sub(1)..=(y + 1).min(hm.height - 1) {
                        for nx in x.saturating_sub(1)..=(x + 1).min(hm.width - 1) {
                            m = m.max(hm.at(c, ny, nx));
                        }
                    }
                    let v = hm.at(c, y, x);
                    if v == m && v >= t {
                        out.push(Peak {
                            class_id: c,
                            y,
                            x,
                            value: v,
                        });
                    }
                }
            }
        }
        out.sort_by(|a, b| {
            b.value
                .total_cmp(&a.value)
                .then((a.y, a.x, a.class_id).cmp(&(b.y, b.x, b.class_id)))
        });
        out.truncate(k);
        out
    }

    #[test]
    fn sparse_matches_dense_maxpool_on_random_maps() {
        let mut seed = 12345u64;
        let mut rnd = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((seed >> 33) as f32) / (1u64 << 31) as f32
        };
        for (c, h, w) in [(1, 1, 1), (3, 7, 5), (80, 9, 13), (2, 16, 16)] {
            let data: Vec<f32> = (0..c * h * w)
                .map(|_| (rnd() * 8.0).floor() / 8.0)
                .collect();
            for view in [
                HeatmapView::nchw(&data, c, h, w),
                HeatmapView::nhwc(&data, c, h, w),
            ] {
                for (t, k) in [(0.0, 1000), (0.5, 7), (0.9, 100)] {
                    assert_eq!(
                        find_peaks(&view, t, k, |_| true),
                        dense(&view, t, k),
                        "c{c} h{h} w{w} t{t}"
                    );
                }
            }
        }
    }

    #[test]
    fn nan_and_filtered_classes_are_skipped() {
        let data = [f32::NAN, 0.9, 0.1, 0.2];
        let v = HeatmapView::nchw(&data, 2, 1, 2);
        assert_eq!(find_peaks(&v, 0.0, 10, |_| true).len(), 2);
        assert!(find_peaks(&v, 0.0, 10, |c| c == 1)
            .iter()
            .all(|p| p.class_id == 1));
    }

    proptest::proptest! {
        /// The sparse scan with top-K selection equals the dense max-pool reference.
        #[test]
        fn peaks_equal_the_dense_reference(
            (c, h, w, data) in (1usize..5, 1usize..12, 1usize..12).prop_flat_map(|(c, h, w)| {
                (proptest::strategy::Just(c), proptest::strategy::Just(h), proptest::strategy::Just(w),
                 proptest::collection::vec(0u8..8, c * h * w))
            }),
            t in 0.0f32..1.0,
            k in 0usize..50,
            nhwc in proptest::bool::ANY,
        ) {
            let data: Vec<f32> = data.iter().map(|v| *v as f32 / 8.0).collect();
            let view = if nhwc {
                HeatmapView::nhwc(&data, c, h, w)
            } else {
                HeatmapView::nchw(&data, c, h, w)
            };
            proptest::prop_assert_eq!(find_peaks(&view, t, k, |_| true), dense(&view, t, k));
        }
    }
}
