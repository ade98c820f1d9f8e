//! Centerscope's own CPU kernels (src/kernels) inside the real binary: `bench --ops` shows
//! where they replaced tract's operators, and every instruction-set level this CPU supports
//! finds the same objects as tract's own kernels, to a fraction of a pixel.

use crate::common::*;
use std::ffi::OsStr;
use std::time::Duration;

fn bench_ops(extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "bench",
        "--model",
        "centerface",
        "--size",
        "160x128",
        "--frames",
        "2",
        "--workers",
        "1",
        "--ops",
        "--json",
    ];
    args.extend_from_slice(extra);
    let r = run(&args);
    assert_eq!(r.code, 0, "bench failed: {}", r.stderr);
    serde_json::from_str(r.stdout.lines().last().unwrap_or("")).expect("one JSON line")
}

fn op_kinds(report: &serde_json::Value) -> Vec<String> {
    report["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or("").to_string())
        .collect()
}

fn avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

#[test]
fn bench_reports_latency_stages_and_where_inference_time_goes() {
    let ours = bench_ops(&[]);
    for stage in ["preprocess", "inference", "postprocess"] {
        let ms = ours["stages"][stage]["median_ms"].as_f64().unwrap_or(-1.0);
        assert!(ms >= 0.0, "stage {stage} missing: {ours}");
    }
    assert!(
        ours["stages"]["inference"]["median_ms"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
    let kinds = op_kinds(&ours);
    assert!(kinds.iter().any(|k| k == "DepthwiseConv3x3/1"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "DepthwiseConv3x3/2"), "{kinds:?}");
    if avx2() {
        assert!(kinds.iter().any(|k| k == "PointwiseConv"), "{kinds:?}");
        assert!(kinds.iter().any(|k| k == "SpatialConv3x3/2"), "{kinds:?}");
    }
    let total: f64 = ours["ops"]
        .as_array()
        .expect("ops")
        .iter()
        .map(|o| o["ms_per_run"].as_f64().unwrap_or(0.0))
        .sum();
    assert!(total > 0.0);

    let stock = bench_ops(&["--stock-tract"]);
    let kinds = op_kinds(&stock);
    assert!(
        !kinds.iter().any(|k| k.starts_with("DepthwiseConv")
            || k == "PointwiseConv"
            || k.starts_with("Spatial")),
        "--stock-tract still uses our kernels: {kinds:?}"
    );
}

/// Detections of `model` on `picture` with the environment `env`.
fn detections(model: &str, picture: &str, env: &[(&str, &OsStr)]) -> Vec<(String, f64, Vec<f64>)> {
    let dir = tmp();
    let out = dir.path().join("out.jsonl");
    let out_s = out.to_string_lossy().into_owned();
    let img = image(picture);
    let args = [
        "detect",
        img.as_str(),
        "--model",
        model,
        "--threshold",
        "0.2",
        "--output",
        &out_s,
    ];
    let r = run_env(&args, env, Duration::from_secs(240));
    assert_eq!(r.code, 0, "detect failed: {}", r.stderr);
    let recs = read_jsonl(&out);
    recs[0]["detections"]
        .as_array()
        .expect("detections")
        .iter()
        .map(|d| {
            let b = d["box"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_f64()).collect())
                .unwrap_or_default();
            (
                d["label"].as_str().unwrap_or("").to_string(),
                d["score"].as_f64().unwrap_or(-1.0),
                b,
            )
        })
        .collect()
}

#[test]
fn every_kernel_level_finds_what_stock_tract_finds() {
    let mut levels: Vec<(&str, &OsStr)> = vec![("portable", OsStr::new("portable"))];
    if avx2() {
        levels.push(("avx2", OsStr::new("avx2")));
        levels.push(("best", OsStr::new("best")));
    }
    for (model, picture) in [
        ("centerface", "astronaut.jpg"),
        ("centernet-mobilenetv3-coco", "dog.jpg"),
        ("movenet-multipose", "person.jpg"),
    ] {
        let stock = detections(
            model,
            picture,
            &[("CENTERSCOPE_KERNELS", OsStr::new("off"))],
        );
        assert!(!stock.is_empty(), "{model} found nothing on {picture}");
        for (name, isa) in &levels {
            let ours = detections(model, picture, &[("CENTERSCOPE_ISA", isa)]);
            // Every clear detection of one has its twin in the other (scores near the 0.2
            // threshold may fall either side of it by rounding).
            let twin = |d: &(String, f64, Vec<f64>), among: &[(String, f64, Vec<f64>)]| {
                among.iter().any(|o| {
                    o.0 == d.0
                        && (o.1 - d.1).abs() < 1e-3
                        && o.2.len() == 4
                        && o.2.iter().zip(&d.2).all(|(a, b)| (a - b).abs() < 0.5)
                })
            };
            for d in stock.iter().filter(|d| d.1 >= 0.25) {
                assert!(twin(d, &ours), "{model} {name}: {d:?} missing in {ours:?}");
            }
            for d in ours.iter().filter(|d| d.1 >= 0.25) {
                assert!(
                    twin(d, &stock),
                    "{model} {name}: {d:?} not in stock {stock:?}"
                );
            }
        }
    }
}
