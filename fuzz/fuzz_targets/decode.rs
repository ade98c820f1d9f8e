//! Structured decode fuzzing: a family and its manifest (one of the built-in ones or the
//! classic-CenterNet test fixture, with fuzzed `decode` options), output tensors of the shapes
//! that family expects (sometimes one dimension or the rank changed, as a user model with a
//! wrong manifest produces; rarely shapes that do not even match the data length, which only a
//! direct caller of the public `decode` can produce), filled with fuzzed floats including NaN,
//! ±inf, subnormals and huge values; random parameters (threshold 0..1, NMS IoU 0..1,
//! top_k 0..1000, class filter) and transforms.
//!
//! Must not panic. On `Ok`, the detections must respect what the rest of the app assumes:
//! at most `top_k`, best first, no NaN score, boxes finite with `x1 < x2`, `y1 < y2` inside the
//! source picture, the family's keypoint count, and only classes the filter allows.
//! Outputs of exactly the expected shapes must decode (`Ok`).
//!
//! Two issues this target found are fixed and checked here like the rest (fuzz/README.md, K1
//! and K2): shapes whose dimensions multiply past `usize::MAX`, and CenterFace's class filter.
#![no_main]

use arbitrary::{Result as AResult, Unstructured};
use centerscope::decode::families::DecodeContext;
use centerscope::decode::{decode, DecodeParams, OutputView};
use centerscope::model::{Family, Manifest};
use centerscope::preprocess::Transform;
use libfuzzer_sys::fuzz_target;
use std::sync::{Arc, OnceLock};

const MANIFESTS: [(&str, &str); 4] = [
    ("centerface.json", include_str!("../../models/centerface.json")),
    (
        "centernet-mobilenetv3-coco.json",
        include_str!("../../models/centernet-mobilenetv3-coco.json"),
    ),
    ("movenet-multipose.json", include_str!("../../models/movenet-multipose.json")),
    (
        "tiny-centernet.json",
        include_str!("../../tests/fixtures/classic/tiny-centernet.json"),
    ),
];

fn manifests() -> &'static [Manifest] {
    static M: OnceLock<Vec<Manifest>> = OnceLock::new();
    M.get_or_init(|| {
        MANIFESTS
            .iter()
            .map(|(name, text)| Manifest::parse(text, name).expect("built-in manifest parses"))
            .collect()
    })
}

/// One fuzzed float: ordinary values most of the time, the special ones often.
fn float(u: &mut Unstructured<'_>) -> AResult<f32> {
    if u.is_empty() {
        return Ok(0.0);
    }
    Ok(match u.int_in_range(0u8..=19)? {
        0 => f32::NAN,
        1 => f32::INFINITY,
        2 => f32::NEG_INFINITY,
        3 => f32::from_bits(u.arbitrary()?), // anything: other NaNs, subnormals, huge
        4 => -0.0,
        5 => f32::MAX,
        6 => f32::MIN,
        7 => 1e30,
        8 => -1e30,
        9 => 88.8, // exp() overflows to inf just above 88.7
        // -8..8 in steps of 1/16: probabilities, logits, sizes in cells, offsets.
        _ => u.int_in_range(-128i16..=127)? as f32 / 16.0,
    })
}

/// A unit value (threshold, IoU): the ends exactly, or anything in between.
fn unit(u: &mut Unstructured<'_>) -> AResult<f32> {
    Ok(match u.int_in_range(0u8..=7)? {
        0 => 0.0,
        1 => 1.0,
        _ => u.int_in_range(0u16..=u16::MAX)? as f32 / u16::MAX as f32,
    })
}

/// A length in `0..=max`, small most of the time.
fn small(u: &mut Unstructured<'_>, max: usize) -> AResult<usize> {
    u.int_in_range(0..=max)
}

/// A tensor's data for `shape`: the first values from the input, then zeros or a cycled
/// palette (so large maps are not all zeros once the input runs out).
fn fill(u: &mut Unstructured<'_>, len: usize) -> AResult<Vec<f32>> {
    let explicit = small(u, len.min(512))?;
    let mut data = Vec::with_capacity(len);
    for _ in 0..explicit {
        data.push(float(u)?);
    }
    let palette: Vec<f32> = (0..small(u, 8)?).map(|_| float(u)).collect::<AResult<_>>()?;
    let step = small(u, 7)? + 1;
    for i in explicit..len {
        data.push(if palette.is_empty() {
            0.0
        } else {
            palette[(i / step) % palette.len()]
        });
    }
    Ok(data)
}

const MAX_ELEMS: usize = 1 << 17;

fn elems(shape: &[usize]) -> Option<usize> {
    shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMS)
}

struct Case {
    manifest: Manifest,
    labels: Vec<Arc<str>>,
    shapes: Vec<Vec<usize>>,
    data: Vec<Vec<f32>>,
    /// Every shape is exactly what the family expects: decode must succeed.
    well_formed: bool,
    params: DecodeParams,
    input_hw: [usize; 2],
    transform: Transform,
    source_wh: [u32; 2],
}

fn case(u: &mut Unstructured<'_>) -> AResult<Option<Case>> {
    let base = u.choose(manifests())?;
    let mut manifest = base.clone();
    // Decoder options a user manifest may set.
    manifest.decode.stride = match u.int_in_range(0u8..=3)? {
        0 => None,
        1 => Some(4),
        2 => Some(0),
        _ => Some(small(u, 64)?),
    };
    manifest.decode.heatmap_sigmoid = u.arbitrary()?;
    if manifest.family == Family::MovenetMultipose && u.ratio(1, 4)? {
        let k = small(u, 24)?;
        manifest.keypoints = (0..k).map(|i| format!("k{i}")).collect();
        manifest.skeleton.clear();
    }
    let n_labels = small(u, manifest.labels.len() + 2)?;
    let labels: Vec<Arc<str>> = (0..n_labels)
        .map(|i| {
            manifest
                .labels
                .get(i)
                .map_or_else(|| Arc::from(format!("extra {i}").as_str()), |l| Arc::from(l.as_str()))
        })
        .collect();

    let (h, w) = (small(u, 24)?, small(u, 24)?);
    let classes = small(u, manifest.labels.len().min(90) + 2)?;
    let k = manifest.keypoints.len();
    let mut shapes: Vec<Vec<usize>> = match manifest.family {
        Family::Centerface => vec![
            vec![1, 1, h, w],
            vec![1, 2, h, w],
            vec![1, 2, h, w],
            vec![1, 10, h, w],
        ],
        Family::CenternetLtrb => vec![vec![1, h, w, classes], vec![1, h, w, 4]],
        Family::CenternetClassic => {
            vec![vec![1, classes, h, w], vec![1, 2, h, w], vec![1, 2, h, w]]
        }
        Family::MovenetMultipose => vec![vec![1, small(u, 12)?, k * 3 + 5]],
    };
    let mut well_formed = true;
    match u.int_in_range(0u8..=31)? {
        // A wrong manifest for a real model: one dimension or the rank differs, or an output
        // is missing or extra. The data still has the shape's length, as tract guarantees.
        0..=3 => {
            well_formed = false;
            let i = u.choose_index(shapes.len())?;
            match u.int_in_range(0u8..=4)? {
                0 => {
                    let d = u.choose_index(shapes[i].len())?;
                    shapes[i][d] = small(u, 40)?;
                }
                1 => {
                    shapes[i].pop();
                }
                2 => {
                    let d = small(u, 6)?;
                    shapes[i].push(d);
                }
                3 => {
                    shapes.remove(i);
                }
                _ => shapes.push(vec![1, small(u, 4)?, h, w]),
            }
        }
        // Direct callers of the public API: shapes that need not match the data at all.
        4 => {
            well_formed = false;
            let n = small(u, 5)?;
            let mut raw = Vec::new();
            let mut data = Vec::new();
            for _ in 0..n {
                let rank = small(u, 5)?;
                let shape: Vec<usize> = (0..rank)
                    .map(|_| {
                        Ok(match u.int_in_range(0u8..=3)? {
                            0 => 1,
                            // K1: dimensions whose product overflows.
                            1 => u.arbitrary::<usize>()?,
                            _ => small(u, 64)?,
                        })
                    })
                    .collect::<AResult<_>>()?;
                let len = small(u, 4096)?;
                data.push(fill(u, len)?);
                raw.push(shape);
            }
            return Ok(Some(Case {
                manifest,
                labels,
                shapes: raw,
                data,
                well_formed,
                params: params(u)?,
                input_hw: [small(u, 4096)?, small(u, 4096)?],
                transform: transform(u)?,
                source_wh: [small(u, 8192)? as u32, small(u, 8192)? as u32],
            }));
        }
        _ => {}
    }
    let mut data = Vec::with_capacity(shapes.len());
    for s in &shapes {
        let Some(n) = elems(s) else {
            return Ok(None);
        };
        data.push(fill(u, n)?);
    }
    let input_hw = if u.ratio(3, 4)? {
        // What the runtime passes: the heads' size times the stride.
        let s = manifest.decode.stride.unwrap_or(4);
        [h * s, w * s]
    } else {
        [small(u, 4096)?, small(u, 4096)?]
    };
    let source_wh = if u.ratio(7, 8)? {
        [small(u, 4096)? as u32, small(u, 4096)? as u32]
    } else {
        [u.arbitrary()?, u.arbitrary()?]
    };
    Ok(Some(Case {
        manifest,
        labels,
        shapes,
        data,
        well_formed,
        params: params(u)?,
        input_hw,
        transform: transform(u)?,
        source_wh,
    }))
}

fn params(u: &mut Unstructured<'_>) -> AResult<DecodeParams> {
    let score_threshold = unit(u)?;
    let nms_iou = unit(u)?;
    let top_k = match u.int_in_range(0u8..=3)? {
        0 => 0,
        1 => 1,
        _ => small(u, 1000)?,
    };
    let class_filter = if u.ratio(1, 4)? {
        let n = small(u, 12)?;
        let f: Vec<bool> = (0..n).map(|_| u.arbitrary()).collect::<AResult<_>>()?;
        Some(Arc::new(f))
    } else {
        None
    };
    Ok(DecodeParams {
        score_threshold,
        nms_iou,
        top_k,
        class_filter,
    })
}

fn transform(u: &mut Unstructured<'_>) -> AResult<Transform> {
    Ok(if u.ratio(7, 8)? {
        // What preprocessing produces: a positive scale and a non-negative pad.
        Transform {
            scale_x: (u.int_in_range(1u16..=4000)? as f32) / 1000.0,
            scale_y: (u.int_in_range(1u16..=4000)? as f32) / 1000.0,
            pad_x: small(u, 256)? as f32,
            pad_y: small(u, 256)? as f32,
        }
    } else {
        Transform {
            scale_x: float(u)?,
            scale_y: float(u)?,
            pad_x: float(u)?,
            pad_y: float(u)?,
        }
    })
}

fn check(c: &Case) {
    let views: Vec<OutputView<'_>> = c
        .shapes
        .iter()
        .zip(&c.data)
        .map(|(shape, data)| OutputView { shape, data })
        .collect();
    let ctx = DecodeContext {
        manifest: &c.manifest,
        labels: &c.labels,
        input_hw: c.input_hw,
        transform: c.transform,
        source_wh: c.source_wh,
        params: &c.params,
    };
    let result = decode(&ctx, &views);
    let dets = match result {
        Ok(d) => d,
        Err(e) => {
            assert!(!c.well_formed, "well-formed outputs {:?} rejected: {e}", c.shapes);
            return;
        }
    };
    let p = &c.params;
    assert!(dets.len() <= p.top_k, "{} detections for top_k {}", dets.len(), p.top_k);
    let (sw, sh) = (c.source_wh[0] as f32, c.source_wh[1] as f32);
    let keypoints = match c.manifest.family {
        Family::Centerface => 5,
        Family::MovenetMultipose => c.manifest.keypoints.len(),
        _ => 0,
    };
    for d in &dets {
        assert!(!d.score.is_nan(), "NaN score: {d:?}");
        let [x1, y1, x2, y2] = d.bbox;
        assert!(
            d.bbox.iter().all(|v| v.is_finite())
                && x1 < x2
                && y1 < y2
                && x1 >= 0.0
                && y1 >= 0.0
                && x2 <= sw
                && y2 <= sh,
            "bad box {:?} for a {sw}x{sh} source",
            d.bbox
        );
        assert_eq!(d.keypoints.len(), keypoints, "{d:?}");
        // K2: CenterFace too honours the class filter.
        assert!(p.allows(d.class_id), "class {} is filtered out: {d:?}", d.class_id);
    }
    assert!(
        dets.windows(2).all(|w| w[0].score >= w[1].score),
        "not best first: {:?}",
        dets.iter().map(|d| d.score).collect::<Vec<_>>()
    );
}

fuzz_target!(|bytes: &[u8]| {
    let mut u = Unstructured::new(bytes);
    if let Ok(Some(c)) = case(&mut u) {
        check(&c);
    }
});
