//! Parity with onnxruntime and the reference decoders (fixtures made by
//! `tools/make_fixtures.py`; see tests/fixtures/README.md).
//!
//! 1. Raw outputs: the exact network input (a PNG at network size) through tract must match
//!    onnxruntime's outputs: shape, sums and 64+ sampled values at the strongest peaks.
//! 2. Decoding: our decoder on tract's outputs must reproduce the reference detections.
//! 3. End to end: our own resize/letterbox on the original photo must land within a small
//!    tolerance of the reference pipeline (which resized with Pillow).

use crate::common::*;
use centerscope::decode::DecodeParams;
use centerscope::model::manifest::{InputType, Layout, Manifest};
use centerscope::model::Registry;
use centerscope::preprocess::Transform;
use centerscope::Frame;
use serde_json::Value;
use tract_onnx::prelude::*;

fn fixtures() -> Vec<(String, Value)> {
    let dir = fixture("parity");
    let mut v: Vec<(String, Value)> = std::fs::read_dir(&dir)
        .expect("parity fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|p| {
            (
                p.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                serde_json::from_str(&std::fs::read_to_string(&p).expect("read")).expect("json"),
            )
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(v.len() >= 5, "expected the committed parity fixtures");
    v
}

fn input_tensor(m: &Manifest, png: &std::path::Path) -> Tensor {
    let img = image::open(png).expect("input png").to_rgb8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let px = |y: usize, x: usize, c: usize| {
        (img.get_pixel(x as u32, y as u32)[c] as f32 - m.input.mean[c]) / m.input.std[c]
    };
    let shape = match m.input.layout {
        Layout::Nchw => vec![1, 3, h, w],
        Layout::Nhwc => vec![1, h, w, 3],
    };
    let mut data = Vec::with_capacity(h * w * 3);
    match m.input.layout {
        Layout::Nchw => {
            (0..3).for_each(|c| (0..h).for_each(|y| (0..w).for_each(|x| data.push(px(y, x, c)))))
        }
        Layout::Nhwc => {
            (0..h).for_each(|y| (0..w).for_each(|x| (0..3).for_each(|c| data.push(px(y, x, c)))))
        }
    }
    let t = tract_ndarray::ArrayD::from_shape_vec(shape, data)
        .expect("shape")
        .into_tensor();
    match m.input.dtype {
        InputType::F32 => t,
        InputType::I32 => t.cast_to::<i32>().expect("cast").into_owned(),
    }
}

fn close(a: f64, b: f64, atol: f64, rtol: f64) -> bool {
    (a - b).abs() <= atol + rtol * b.abs()
}

fn box_of(v: &Value) -> [f64; 4] {
    let b: Vec<f64> = v["box"]
        .as_array()
        .expect("box")
        .iter()
        .map(|x| x.as_f64().unwrap_or(f64::NAN))
        .collect();
    [b[0], b[1], b[2], b[3]]
}

fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
}

#[test]
fn tract_outputs_and_decoded_boxes_match_the_references() {
    let registry = Registry::builtin();
    for (name, fx) in fixtures() {
        let id = fx["model"].as_str().expect("model");
        let model = registry
            .get(id)
            .expect("built-in model")
            .load()
            .expect("load");
        let m = &model.manifest;
        let mut session = model.session();
        let input = input_tensor(m, &fixture(&format!("parity/{name}__input.png")));
        let outputs = session.run_raw(input).expect("inference");

        // 1. Raw outputs.
        for (role, out) in m.family.roles().iter().zip(&outputs) {
            let r = &fx["outputs"][role.to_string().as_str()];
            let shape: Vec<usize> = r["shape"]
                .as_array()
                .expect("shape")
                .iter()
                .filter_map(|v| v.as_u64().map(|v| v as usize))
                .collect();
            assert_eq!(out.shape(), shape.as_slice(), "{name} {role} shape");
            let data = out
                .try_as_plain_ram()
                .and_then(|v| v.as_slice::<f32>())
                .expect("f32");
            let sum: f64 = data.iter().map(|v| *v as f64).sum();
            let abs_sum: f64 = data.iter().map(|v| v.abs() as f64).sum();
            assert!(
                close(sum, r["sum"].as_f64().unwrap_or(f64::NAN), 1e-2, 1e-4),
                "{name} {role} sum {sum} vs {}",
                r["sum"]
            );
            assert!(
                close(
                    abs_sum,
                    r["abs_sum"].as_f64().unwrap_or(f64::NAN),
                    1e-2,
                    1e-4
                ),
                "{name} {role} abs_sum"
            );
            let mut worst = 0.0f64;
            for s in r["samples"].as_array().expect("samples") {
                let (i, want) = (
                    s[0].as_u64().expect("index") as usize,
                    s[1].as_f64().expect("value"),
                );
                let got = data[i] as f64;
                worst = worst.max((got - want).abs());
                // Heatmaps/offsets to 5e-5; sizes in pixels (up to ~500) to 3e-3.
                assert!(
                    close(got, want, 5e-5, 1e-5),
                    "{name} {role}[{i}]: tract {got} vs onnxruntime {want}"
                );
            }
            eprintln!("parity {name} {role}: max |tract - onnxruntime| over samples = {worst:.2e}");
        }

        // 2. Decoding tract's outputs with the fixture's transform.
        let t = &fx["transform"];
        let transform = Transform {
            scale_x: t["scale_x"].as_f64().expect("sx") as f32,
            scale_y: t["scale_y"].as_f64().expect("sy") as f32,
            pad_x: t["pad_x"].as_f64().unwrap_or(0.0) as f32,
            pad_y: t["pad_y"].as_f64().unwrap_or(0.0) as f32,
        };
        let ih: Vec<usize> = fx["input_size"]
            .as_array()
            .expect("input_size")
            .iter()
            .filter_map(|v| v.as_u64().map(|v| v as usize))
            .collect();
        let sh: Vec<u32> = fx["source_size"]
            .as_array()
            .expect("source_size")
            .iter()
            .filter_map(|v| v.as_u64().map(|v| v as u32))
            .collect();
        let reference = fx["detections"].as_array().expect("detections");
        let params = DecodeParams {
            score_threshold: m.defaults.score_threshold,
            ..model.default_params()
        };
        let ours = session
            .decode_outputs(&outputs, [ih[0], ih[1]], transform, [sh[1], sh[0]], &params)
            .expect("decode");
        assert!(!reference.is_empty(), "{name}: reference has detections");
        let (r0, o0) = (&reference[0], &ours[0]);
        assert_eq!(
            o0.label.as_ref(),
            r0["label"].as_str().expect("label"),
            "{name} top label"
        );
        assert!(
            close(
                o0.score as f64,
                r0["score"].as_f64().expect("score"),
                1e-4,
                0.0
            ),
            "{name} top score {} vs {}",
            o0.score,
            r0["score"]
        );
        let rb = box_of(r0);
        let clamped = [
            rb[0].max(0.0),
            rb[1].max(0.0),
            rb[2].min(sh[1] as f64),
            rb[3].min(sh[0] as f64),
        ];
        for k in 0..4 {
            assert!(
                (o0.bbox[k] as f64 - clamped[k]).abs() < 0.05,
                "{name} box {:?} vs reference {clamped:?}",
                o0.bbox
            );
        }
        if let Some(kps) = r0["keypoints"].as_array() {
            assert_eq!(kps.len(), o0.keypoints.len(), "{name} keypoints");
            for (ok, rk) in o0.keypoints.iter().zip(kps) {
                assert!(
                    (ok[0] as f64 - rk[0].as_f64().unwrap_or(f64::NAN)).abs() < 0.05
                        && (ok[1] as f64 - rk[1].as_f64().unwrap_or(f64::NAN)).abs() < 0.05,
                    "{name} keypoint {ok:?} vs {rk}"
                );
            }
        }
        if id != "centernet-mobilenetv3-coco" {
            // Same decoder semantics as the reference (COCO's reference NMS is class-agnostic).
            assert_eq!(ours.len(), reference.len(), "{name}: detection count");
        }

        // 3. End to end with our own preprocessing on the original photo.
        let photo = fx["photo"].as_str().expect("photo");
        let img = image::open(image(&format!("{photo}.jpg")))
            .expect("photo")
            .to_rgb8();
        let frame = Frame::from_image(0, 0.0, img);
        session.set_input_size(Some([ih[0], ih[1]])).expect("size");
        let (e2e, _) = session.detect(&frame, &params).expect("detect");
        let top = e2e
            .first()
            .unwrap_or_else(|| panic!("{name}: no detection end to end"));
        assert_eq!(top.label, o0.label, "{name}: end-to-end label");
        assert!(
            (top.score - o0.score).abs() < 0.03,
            "{name}: end-to-end score {} vs {}",
            top.score,
            o0.score
        );
        let ob = top.bbox.map(|v| v as f64);
        assert!(
            iou(ob, clamped) > 0.95,
            "{name}: end-to-end box {ob:?} vs {clamped:?}"
        );
    }
}
