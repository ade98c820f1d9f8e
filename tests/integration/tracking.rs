//! Issue 12: `detect --track` on real clips: one identity per object for the life of the clip,
//! the same identities for any number of workers, and CSV / MOT files that read back to the
//! JSON Lines boxes.

use crate::common::*;
use centerscope::output::table::{parse_csv, parse_mot};
use std::collections::BTreeSet;

/// The astronaut's face panning across a 320x240 window for 4 s at 10 fps.
fn face_pan() -> std::path::PathBuf {
    clip(
        "face-pan.mp4",
        &[
            "-loop",
            "1",
            "-framerate",
            "10",
            "-t",
            "4",
            "-i",
            &image("astronaut.jpg"),
            "-vf",
            "scale=512:512,crop=320:240:x='20+t*30':y='20+t*10'",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    )
}

fn tracked(path: &std::path::Path, workers: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let dir = tmp();
    let out = dir.path().join("t.jsonl");
    let mut args = vec![
        "detect",
        path.to_str().unwrap_or_default(),
        "--model",
        "centerface",
        "--track",
        "--workers",
        workers,
        "--output",
        out.to_str().unwrap_or_default(),
    ];
    args.extend_from_slice(extra);
    let r = run(&args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("tracks: face: 1 track"), "{}", r.stderr);
    read_jsonl(&out)
}

fn ids(records: &[serde_json::Value]) -> Vec<Vec<u64>> {
    records
        .iter()
        .map(|r| {
            r["detections"]
                .as_array()
                .map(|d| d.iter().filter_map(|d| d["track_id"].as_u64()).collect())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn a_panning_face_keeps_one_track_for_the_whole_clip_with_any_worker_count() {
    let clip = face_pan();
    let one = tracked(&clip, "1", &[]);
    assert_eq!(one.len(), 40, "every frame");
    let per_frame = ids(&one);
    let unique: BTreeSet<u64> = per_frame.iter().flatten().copied().collect();
    assert_eq!(unique.len(), 1, "one identity: {per_frame:?}");
    let with_face = per_frame.iter().filter(|f| !f.is_empty()).count();
    assert!(with_face >= 36, "tracked in {with_face}/40 frames");
    for workers in ["2", "4"] {
        assert_eq!(
            ids(&tracked(&clip, workers, &[])),
            per_frame,
            "{workers} workers"
        );
    }
    // Every third frame: the same single identity.
    let every3 = tracked(&clip, "2", &["--every", "3"]);
    let unique: BTreeSet<u64> = ids(&every3).into_iter().flatten().collect();
    assert_eq!(unique.len(), 1);
}

#[test]
fn without_track_the_output_has_no_track_ids() {
    let dir = tmp();
    let out = dir.path().join("plain.jsonl");
    let r = run(&[
        "detect",
        &face_pan().to_string_lossy(),
        "--model",
        "centerface",
        "--output",
        &out.to_string_lossy(),
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&out).expect("read");
    assert!(!text.contains("track_id"));
    assert!(!r.stderr.contains("tracks:"));
}

#[test]
fn csv_and_mot_read_back_to_the_jsonl_boxes() {
    let clip = face_pan();
    let dir = tmp();
    let jsonl = dir.path().join("t.jsonl");
    let csv = dir.path().join("t.csv");
    let mot = dir.path().join("t.txt");
    for (path, format) in [(&jsonl, None), (&csv, None), (&mot, Some("mot"))] {
        let mut args = vec![
            "detect".to_string(),
            clip.to_string_lossy().into_owned(),
            "--model".into(),
            "centerface".into(),
            "--track".into(),
            "--workers".into(),
            "2".into(),
            "--output".into(),
            path.to_string_lossy().into_owned(),
        ];
        if let Some(f) = format {
            args.extend(["--format".to_string(), f.to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let r = run(&args);
        assert_eq!(r.code, 0, "{}", r.stderr);
    }
    let mut from_jsonl = Vec::new();
    for rec in read_jsonl(&jsonl) {
        for d in rec["detections"].as_array().into_iter().flatten() {
            let b: Vec<f64> = d["box"]
                .as_array()
                .map(|b| b.iter().filter_map(|v| v.as_f64()).collect())
                .unwrap_or_default();
            from_jsonl.push((
                rec["frame"].as_u64().unwrap_or(0),
                d["track_id"].as_u64(),
                b,
            ));
        }
    }
    assert!(!from_jsonl.is_empty());
    let close = |a: &[f64], b: [f32; 4]| a.iter().zip(b).all(|(x, y)| (x - y as f64).abs() < 0.01);
    let rows = parse_csv(&std::fs::read_to_string(&csv).expect("csv")).expect("parse csv");
    assert_eq!(rows.len(), from_jsonl.len());
    for (row, (frame, id, b)) in rows.iter().zip(&from_jsonl) {
        assert_eq!((row.frame, row.track_id), (*frame, *id));
        assert!(close(b, row.bbox), "{row:?} vs {b:?}");
    }
    let rows = parse_mot(&std::fs::read_to_string(&mot).expect("mot")).expect("parse mot");
    assert_eq!(rows.len(), from_jsonl.len());
    for (row, (frame, id, b)) in rows.iter().zip(&from_jsonl) {
        assert_eq!(row.frame, frame + 1, "MOT frames count from 1");
        assert_eq!(row.id, id.map(|i| i as i64).unwrap_or(-1));
        assert!(close(b, row.bbox), "{row:?} vs {b:?}");
    }
}

#[test]
fn an_occluded_face_keeps_its_identity_and_its_predicted_box_is_exported() {
    // The astronaut's face, covered by a black box from 1.0 s to 1.3 s (3 frames at 10 fps).
    let clip = clip(
        "face-occluded.mp4",
        &[
            "-loop",
            "1",
            "-framerate",
            "10",
            "-t",
            "3",
            "-i",
            &image("astronaut.jpg"),
            "-vf",
            "drawbox=x=100:y=20:w=260:h=260:color=black:t=fill:enable='between(t,1,1.3)'",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
        ],
    );
    let recs = tracked(&clip, "2", &["--track-predicted"]);
    let face_ids: BTreeSet<u64> = ids(&recs).into_iter().flatten().collect();
    assert_eq!(
        face_ids.len(),
        1,
        "one identity before and after: {:?}",
        ids(&recs)
    );
    let missed: Vec<&serde_json::Value> = recs
        .iter()
        .filter(|r| r["detections"].as_array().is_some_and(|d| d.is_empty()))
        .collect();
    assert!(!missed.is_empty(), "the occlusion hides the face");
    for r in missed {
        let predicted: Vec<u64> = r["predicted"]
            .as_array()
            .map(|p| p.iter().filter_map(|d| d["track_id"].as_u64()).collect())
            .unwrap_or_default();
        assert_eq!(predicted.len(), 1, "frame {}: {r}", r["frame"]);
        assert!(face_ids.contains(&predicted[0]));
    }
    // Without the flag nothing predicted is written.
    let plain = tracked(&clip, "2", &[]);
    assert!(plain.iter().all(|r| r.get("predicted").is_none()));
}
