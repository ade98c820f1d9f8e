//! `centerscope detect` / `models` on real photos with the real models.

use crate::common::*;

fn detect_jsonl(input: &str, model: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let dir = tmp();
    let out = dir.path().join("out.jsonl");
    let out_s = out.to_string_lossy().into_owned();
    let mut args = vec!["detect", input, "--model", model, "--output", &out_s];
    args.extend_from_slice(extra);
    let r = run(&args);
    assert_eq!(r.code, 0, "detect failed: {}", r.stderr);
    read_jsonl(&out)
}

fn labels(rec: &serde_json::Value) -> Vec<(String, f64)> {
    rec["detections"]
        .as_array()
        .expect("detections")
        .iter()
        .map(|d| {
            (
                d["label"].as_str().unwrap_or("").to_string(),
                d["score"].as_f64().unwrap_or(0.0),
            )
        })
        .collect()
}

#[test]
fn coco_model_finds_cat_cup_and_person() {
    for (photo, want, min_score) in [
        ("chelsea.jpg", "cat", 0.45),
        ("coffee.jpg", "cup", 0.5),
        ("astronaut.jpg", "person", 0.5),
    ] {
        let recs = detect_jsonl(&image(photo), "centernet-mobilenetv3-coco", &[]);
        assert_eq!(recs.len(), 1);
        let rec = &recs[0];
        assert_eq!(rec["frame"], 0);
        assert_eq!(rec["model"], "centernet-mobilenetv3-coco");
        let found = labels(rec);
        let best = found.first().expect("at least one detection");
        assert_eq!(best.0, want, "{photo}: {found:?}");
        assert!(best.1 >= min_score, "{photo}: {found:?}");
        let (w, h) = (
            rec["width"].as_f64().unwrap_or(0.0),
            rec["height"].as_f64().unwrap_or(0.0),
        );
        for d in rec["detections"].as_array().into_iter().flatten() {
            let b: Vec<f64> = d["box"]
                .as_array()
                .expect("box")
                .iter()
                .map(|v| v.as_f64().unwrap_or(-1.0))
                .collect();
            assert!(
                b[0] < b[2] && b[1] < b[3] && b[0] >= 0.0 && b[1] >= 0.0 && b[2] <= w && b[3] <= h,
                "{photo}: box {b:?} in {w}x{h}"
            );
            assert!(d.get("keypoints").is_none(), "COCO boxes have no keypoints");
        }
        for stage in ["preprocess", "inference", "postprocess"] {
            assert!(
                rec["timing_ms"][stage].as_f64().is_some_and(|v| v >= 0.0),
                "timing {stage}"
            );
        }
    }
}

#[test]
fn centerface_finds_one_face_with_five_landmarks_inside_it() {
    let recs = detect_jsonl(&image("astronaut.jpg"), "centerface", &[]);
    let dets = recs[0]["detections"].as_array().expect("detections");
    assert_eq!(dets.len(), 1, "{dets:?}");
    let d = &dets[0];
    assert_eq!(d["label"], "face");
    let b: Vec<f64> = d["box"]
        .as_array()
        .expect("box")
        .iter()
        .filter_map(|v| v.as_f64())
        .collect();
    let kps = d["keypoints"].as_array().expect("keypoints");
    assert_eq!(kps.len(), 5);
    for kp in kps {
        let (x, y) = (
            kp[0].as_f64().unwrap_or(-1.0),
            kp[1].as_f64().unwrap_or(-1.0),
        );
        assert!(
            x > b[0] && x < b[2] && y > b[1] && y < b[3],
            "landmark {kp} outside box {b:?}"
        );
    }
}

#[test]
fn movenet_finds_a_person_with_17_keypoints() {
    let recs = detect_jsonl(&image("astronaut.jpg"), "movenet-multipose", &[]);
    let dets = recs[0]["detections"].as_array().expect("detections");
    assert!(!dets.is_empty());
    assert_eq!(dets[0]["label"], "person");
    assert_eq!(dets[0]["keypoints"].as_array().map(|k| k.len()), Some(17));
}

#[test]
fn threshold_changes_what_is_reported() {
    let low = detect_jsonl(
        &image("coffee.jpg"),
        "centernet-mobilenetv3-coco",
        &["--threshold", "0.05"],
    );
    let high = detect_jsonl(
        &image("coffee.jpg"),
        "centernet-mobilenetv3-coco",
        &["--threshold", "0.9"],
    );
    let (nl, nh) = (labels(&low[0]).len(), labels(&high[0]).len());
    assert!(nl > nh, "low threshold {nl} vs high {nh}");
    assert!(labels(&low[0]).iter().all(|(_, s)| *s >= 0.05));
}

#[test]
fn annotate_draws_boxes_on_a_copy_of_the_picture() {
    let dir = tmp();
    let out = dir.path().join("annotated.png");
    let r = run(&[
        "detect",
        &image("chelsea.jpg"),
        "--annotate",
        &out.to_string_lossy(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let img = image::open(&out).expect("annotated png").to_rgb8();
    let src = image::open(image("chelsea.jpg")).expect("src").to_rgb8();
    assert_eq!(img.dimensions(), src.dimensions());
    let [r0, g0, b0] = centerscope::output::class_color(15); // cat
    let painted = img.pixels().filter(|p| p.0 == [r0, g0, b0]).count();
    assert!(painted > 200, "only {painted} pixels in the cat colour");
}

#[test]
fn models_lists_the_three_built_ins() {
    let r = run(&["models"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for id in [
        "centerface",
        "centernet-mobilenetv3-coco",
        "movenet-multipose",
    ] {
        assert!(r.stdout.contains(id), "{}", r.stdout);
    }
}

#[test]
fn folder_of_images_is_processed_in_name_order() {
    let dir = tmp();
    for (i, name) in ["coffee.jpg", "chelsea.jpg"].iter().enumerate() {
        std::fs::copy(image(name), dir.path().join(format!("{i:02}-{name}"))).expect("copy");
    }
    std::fs::write(dir.path().join("notes.txt"), "not an image").expect("write");
    let recs = detect_jsonl(
        &dir.path().to_string_lossy(),
        "centernet-mobilenetv3-coco",
        &[],
    );
    assert_eq!(recs.len(), 2);
    assert_eq!(labels(&recs[0])[0].0, "cup");
    assert_eq!(labels(&recs[1])[0].0, "cat");
    assert_eq!(recs[1]["frame"], 1);
}

#[test]
fn user_model_with_its_own_manifest_loads_by_path() {
    // A user copy of a built-in model with its own manifest, given by path.
    let dir = tmp();
    let onnx = dir.path().join("faces.onnx");
    std::fs::copy(repo().join("models/centerface.onnx"), &onnx).expect("copy onnx");
    let mut manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("models/centerface.json")).expect("manifest"),
    )
    .expect("json");
    manifest["id"] = "my-faces".into();
    manifest["file"] = "faces.onnx".into();
    std::fs::write(dir.path().join("faces.json"), manifest.to_string()).expect("write manifest");
    let recs = detect_jsonl(&image("astronaut.jpg"), &onnx.to_string_lossy(), &[]);
    assert_eq!(recs[0]["model"], "my-faces");
    assert_eq!(recs[0]["detections"].as_array().map(|d| d.len()), Some(1));
}

#[test]
fn classic_hm_wh_reg_centernet_loads_with_a_manifest_alone() {
    // tests/fixtures/classic: a tiny ONNX with xingyizhou/CenterNet heads and hand-set weights
    // (tools/make_classic_fixture.py): red blobs are class 0, blue blobs class 1, boxes 20 px.
    let dir = tmp();
    let pic = dir.path().join("blobs.png");
    // 256x192 source: letterboxed into 128x128 at scale 0.5 (padding at the bottom).
    let img = image::RgbImage::from_fn(256, 192, |x, y| {
        if (80..120).contains(&x) && (80..120).contains(&y) {
            image::Rgb([230, 20, 20])
        } else if (160..200).contains(&x) && (32..72).contains(&y) {
            image::Rgb([20, 20, 230])
        } else {
            image::Rgb([0, 0, 0])
        }
    });
    img.save(&pic).expect("save");
    let model = fixture("classic/tiny-centernet.json");
    let recs = detect_jsonl(&pic.to_string_lossy(), &model.to_string_lossy(), &[]);
    let dets = recs[0]["detections"].as_array().expect("detections");
    assert_eq!(dets.len(), 2, "{dets:?}");
    for (label, want) in [
        ("red", [80.0, 80.0, 120.0, 120.0]),
        ("blue", [160.0, 32.0, 200.0, 72.0]),
    ] {
        let d = dets
            .iter()
            .find(|d| d["label"] == label)
            .unwrap_or_else(|| panic!("no {label} in {dets:?}"));
        let b: Vec<f64> = d["box"]
            .as_array()
            .expect("box")
            .iter()
            .filter_map(|v| v.as_f64())
            .collect();
        for k in 0..4 {
            assert!(
                (b[k] - want[k]).abs() < 1.0,
                "{label}: box {b:?} vs {want:?}"
            );
        }
        // onnxruntime gives sigmoid(1.874) = 0.867 at both peaks.
        assert!(
            (d["score"].as_f64().unwrap_or(0.0) - 0.867).abs() < 0.01,
            "{label}: score {}",
            d["score"]
        );
    }
}
