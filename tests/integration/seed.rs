//! Issue 15's training pipeline end to end: `tests/fixtures/seed` holds a tiny MobileNetV2
//! CenterNet (`centernet-classic`, 128×128, 3 classes) trained on CPU by
//! `tools/train_centernet.py` on the synthetic shapes of `tools/make_seed_dataset.py`, two of
//! its validation pictures, and `expected.json`: their ground-truth boxes and the detections
//! PyTorch decoded from the same weights (see docs/seed.md for how to regenerate all of it).

use crate::common::{fixture, read_jsonl, run, tmp};

fn iou(a: &[f64], b: &[f64]) -> f64 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

fn boxes(v: &serde_json::Value) -> Vec<(String, f64, Vec<f64>)> {
    v.as_array()
        .expect("array of detections")
        .iter()
        .map(|d| {
            (
                d["label"].as_str().unwrap_or("").to_string(),
                d["score"].as_f64().unwrap_or(1.0),
                d["box"]
                    .as_array()
                    .expect("box")
                    .iter()
                    .filter_map(|x| x.as_f64())
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn trained_seed_model_loads_by_path_and_finds_what_pytorch_found() {
    let dir = fixture("seed");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("expected.json")).expect("expected.json"),
    )
    .expect("json");
    let model = dir.join(expected["model"].as_str().expect("model"));
    let images = expected["images"].as_array().expect("images");
    assert!(!images.is_empty());
    for img in images {
        let name = img["file"].as_str().expect("file");
        let out_dir = tmp();
        let out = out_dir.path().join("out.jsonl");
        let r = run(&[
            "detect",
            &dir.join(name).to_string_lossy(),
            "--model",
            &model.to_string_lossy(),
            "--output",
            &out.to_string_lossy(),
        ]);
        assert_eq!(r.code, 0, "detect {name} failed: {}", r.stderr);
        let recs = read_jsonl(&out);
        let got = boxes(&recs[0]["detections"]);
        let torch = boxes(&img["pytorch"]);
        // Same detections as PyTorch's own decoding of the same weights.
        assert_eq!(got.len(), torch.len(), "{name}: {got:?} vs PyTorch {torch:?}");
        for (label, score, b) in &torch {
            let best = got
                .iter()
                .filter(|(l, _, _)| l == label)
                .max_by(|x, y| iou(&x.2, b).total_cmp(&iou(&y.2, b)))
                .unwrap_or_else(|| panic!("{name}: no {label} in {got:?}"));
            assert!(
                iou(&best.2, b) > 0.95,
                "{name}: {label} {:?} vs PyTorch {b:?}",
                best.2
            );
            assert!(
                (best.1 - score).abs() < 0.02,
                "{name}: {label} score {} vs PyTorch {score}",
                best.1
            );
        }
        // And they are the objects drawn in the picture.
        for (label, _, b) in &boxes(&img["ground_truth"]) {
            let hit = got
                .iter()
                .filter(|(l, _, _)| l == label)
                .map(|(_, _, g)| iou(g, b))
                .fold(0.0, f64::max);
            assert!(hit > 0.5, "{name}: {label} at {b:?} not found: {got:?}");
        }
    }
}
