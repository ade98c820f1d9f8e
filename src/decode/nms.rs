//! Greedy non-maximum suppression.

use crate::Detection;

/// Keep the best-scoring box of every group overlapping by more than `iou` (per class when
/// `class_aware`). Output is sorted by score, best first.
pub fn nms(mut dets: Vec<Detection>, iou: f32, class_aware: bool) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    if iou >= 1.0 {
        return dets;
    }
    let mut keep: Vec<Detection> = Vec::with_capacity(dets.len());
    for d in dets {
        let suppressed = keep
            .iter()
            .any(|k| (!class_aware || k.class_id == d.class_id) && k.iou(&d) > iou);
        if !suppressed {
            keep.push(d);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn det(class_id: usize, score: f32, bbox: [f32; 4]) -> Detection {
        Detection {
            label: Arc::from("x"),
            class_id,
            score,
            bbox,
            keypoints: vec![],
            track_id: None,
        }
    }

    #[test]
    fn suppresses_overlaps_within_a_class_only() {
        let dets = vec![
            det(0, 0.5, [0.0, 0.0, 10.0, 10.0]),
            det(0, 0.9, [1.0, 1.0, 11.0, 11.0]),
            det(1, 0.8, [1.0, 1.0, 11.0, 11.0]),
            det(0, 0.7, [50.0, 50.0, 60.0, 60.0]),
        ];
        let kept = nms(dets.clone(), 0.3, true);
        assert_eq!(
            kept.iter().map(|d| d.score).collect::<Vec<_>>(),
            vec![0.9, 0.8, 0.7]
        );
        let kept = nms(dets, 0.3, false);
        assert_eq!(
            kept.iter().map(|d| d.score).collect::<Vec<_>>(),
            vec![0.9, 0.7]
        );
    }

    proptest::proptest! {
        /// Kept boxes come from the input, best first, never overlap within a class beyond the
        /// limit, and every dropped box overlaps a kept one of its class at least as good.
        #[test]
        fn nms_invariants(
            raw in proptest::collection::vec(
                (0usize..3, 0.0f32..1.0, 0.0f32..100.0, 0.0f32..100.0, 1.0f32..40.0, 1.0f32..40.0),
                0..40,
            ),
            iou in 0.05f32..0.95,
        ) {
            let dets: Vec<Detection> = raw
                .iter()
                .map(|&(c, s, x, y, w, h)| det(c, s, [x, y, x + w, y + h]))
                .collect();
            let kept = nms(dets.clone(), iou, true);
            proptest::prop_assert!(kept.windows(2).all(|w| w[0].score >= w[1].score));
            for (i, a) in kept.iter().enumerate() {
                proptest::prop_assert!(dets.contains(a));
                for b in &kept[i + 1..] {
                    proptest::prop_assert!(a.class_id != b.class_id || a.iou(b) <= iou);
                }
            }
            for d in dets.iter().filter(|d| !kept.contains(d)) {
                proptest::prop_assert!(kept
                    .iter()
                    .any(|k| k.class_id == d.class_id && k.score >= d.score && k.iou(d) > iou));
            }
            proptest::prop_assert_eq!(nms(kept.clone(), iou, true), kept);
        }
    }
}
