//! Scenario tests of the tracker on synthetic detections.

use super::test_rng::Rng;
use super::*;

const DT: f64 = 1000.0 / 30.0;

fn label(class_id: usize) -> Arc<str> {
    match class_id {
        0 => "person".into(),
        1 => "dog".into(),
        _ => format!("class{class_id}").into(),
    }
}

fn det(class_id: usize, score: f32, bbox: [f32; 4]) -> Detection {
    Detection {
        label: label(class_id),
        class_id,
        score,
        bbox,
        keypoints: Vec::new(),
        track_id: None,
    }
}

/// Box of size `w × h` centred on `(cx, cy)`.
fn centred(cx: f32, cy: f32, w: f32, h: f32) -> [f32; 4] {
    [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0]
}

/// An object moving at constant velocity (pixels per nominal frame).
#[derive(Clone, Copy)]
struct Mover {
    class_id: usize,
    x: f32,
    y: f32,
    vx: f32,
    vy: f32,
    w: f32,
    h: f32,
}

impl Mover {
    fn person(x: f32, y: f32, vx: f32, vy: f32) -> Self {
        Mover {
            class_id: 0,
            x,
            y,
            vx,
            vy,
            w: 50.0,
            h: 120.0,
        }
    }

    /// Its detection at time `t` (in nominal frames), jittered by up to `noise` pixels.
    fn at(&self, t: f64, score: f32, noise: f32, rng: &mut Rng) -> Detection {
        let t = t as f32;
        let b = centred(self.x + self.vx * t, self.y + self.vy * t, self.w, self.h);
        det(self.class_id, score, b.map(|v| v + rng.noise(noise)))
    }
}

/// Runs `frames` of `(pts_ms, detections with the object index they come from)` and returns,
/// per object, the ID it got in every frame where it was present.
fn run(
    tracker: &mut Tracker,
    frames: Vec<(f64, Vec<(usize, Detection)>)>,
    objects: usize,
) -> Vec<Vec<Option<u64>>> {
    let mut ids = vec![Vec::new(); objects];
    for (pts, tagged) in frames {
        let (who, mut dets): (Vec<usize>, Vec<Detection>) = tagged.into_iter().unzip();
        tracker.update(pts, &mut dets);
        for (o, d) in who.into_iter().zip(dets) {
            ids[o].push(d.track_id);
        }
    }
    ids
}

/// The single ID an object had in every frame, failing if it changed or was missing.
fn single_id(ids: &[Option<u64>]) -> u64 {
    let first = ids
        .first()
        .copied()
        .flatten()
        .expect("an ID from the start");
    assert!(ids.iter().all(|&i| i == Some(first)), "ID changed: {ids:?}");
    first
}

#[test]
fn constant_motion_with_noise_keeps_one_id_each() {
    let mut rng = Rng::new(1);
    let movers: Vec<Mover> = (0..6)
        .map(|k| {
            let (vx, vy) = (rng.noise(4.0), rng.noise(2.0));
            Mover::person(
                200.0 + 300.0 * (k % 3) as f32,
                200.0 + 400.0 * (k / 3) as f32,
                vx,
                vy,
            )
        })
        .collect();
    let frames = (0..150)
        .map(|f| {
            let mut dets: Vec<(usize, Detection)> = movers
                .iter()
                .enumerate()
                .map(|(o, m)| (o, m.at(f as f64, 0.8, 2.0, &mut rng)))
                .collect();
            if f % 2 == 1 {
                dets.reverse(); // order of detections must not matter
            }
            (f as f64 * DT, dets)
        })
        .collect();
    let mut tracker = Tracker::default();
    let ids = run(&mut tracker, frames, movers.len());
    let mut got: Vec<u64> = ids.iter().map(|i| single_id(i)).collect();
    got.sort_unstable();
    assert_eq!(got, vec![1, 2, 3, 4, 5, 6]);
    assert_eq!(tracker.unique_tracks_per_class().get("person"), Some(&6));
}

#[test]
fn crossing_paths_keep_ids() {
    // Two people walking towards each other along nearly the same line; in the second run
    // the one behind is not detected while they overlap.
    for occlude in [false, true] {
        let mut rng = Rng::new(2);
        let a = Mover::person(100.0, 300.0, 6.0, 0.0);
        let mut b = Mover::person(700.0, 310.0, -6.0, 0.0);
        b.h = 110.0;
        let frames = (0..100)
            .map(|f| {
                let t = f as f64;
                let (da, db) = (a.at(t, 0.9, 1.0, &mut rng), b.at(t, 0.9, 1.0, &mut rng));
                let overlap = iou(da.bbox, db.bbox) > 0.1;
                let mut dets = vec![(0, da)];
                if !(occlude && overlap) {
                    dets.push((1, db));
                }
                (t * DT, dets)
            })
            .collect();
        let ids = run(&mut Tracker::default(), frames, 2);
        assert_ne!(single_id(&ids[0]), single_id(&ids[1]), "occlude={occlude}");
    }
}

/// One object walking right, missing for frames `gap`, plus a still one that is always seen.
fn occlusion_run(gap: std::ops::Range<usize>) -> (Tracker, Vec<Vec<Option<u64>>>) {
    let mut rng = Rng::new(3);
    let walker = Mover::person(100.0, 300.0, 3.0, 0.5);
    let still = Mover::person(900.0, 300.0, 0.0, 0.0);
    let frames = (0..100)
        .map(|f| {
            let t = f as f64;
            let mut dets = Vec::new();
            if !gap.contains(&f) {
                dets.push((0, walker.at(t, 0.9, 1.0, &mut rng)));
            }
            dets.push((1, still.at(t, 0.9, 1.0, &mut rng)));
            (t * DT, dets)
        })
        .collect();
    let mut tracker = Tracker::default();
    let ids = run(&mut tracker, frames, 2);
    (tracker, ids)
}

#[test]
fn occlusion_within_buffer_keeps_id() {
    // 20 frames (0.67 s) < lost_buffer_s = 1 s.
    let (_, ids) = occlusion_run(30..50);
    assert_eq!(single_id(&ids[0]), 1);
    assert_eq!(single_id(&ids[1]), 2);
}

#[test]
fn occlusion_beyond_buffer_gets_new_id() {
    // 45 frames (1.5 s) > 1 s: the track is gone; the object comes back as a new track, which
    // needs a second sighting to be confirmed, and gets the next unused ID.
    let (tracker, ids) = occlusion_run(30..75);
    let walker = &ids[0];
    assert!(walker[..30].iter().all(|&i| i == Some(1)));
    assert_eq!(walker[30], None);
    assert!(walker[31..].iter().all(|&i| i == Some(3)), "{walker:?}");
    assert_eq!(single_id(&ids[1]), 2);
    assert_eq!(tracker.unique_tracks_per_class().get("person"), Some(&3));
}

#[test]
fn predicted_missing_follows_an_occluded_object() {
    let mut tracker = Tracker::default();
    let walker = Mover::person(100.0, 300.0, 4.0, 0.0);
    let mut rng = Rng::new(4);
    for f in 0..40 {
        let mut dets = Vec::new();
        if f < 30 {
            let mut d = walker.at(f as f64, 0.9, 0.0, &mut rng);
            d.keypoints = vec![[d.bbox[0] + 10.0, d.bbox[1] + 20.0, 0.7]];
            dets.push(d);
        }
        tracker.update(f as f64 * DT, &mut dets);
        let missing = tracker.predicted_missing();
        if f < 30 {
            assert!(missing.is_empty());
            continue;
        }
        assert_eq!(missing.len(), 1);
        let p = &missing[0];
        assert_eq!((p.track_id, p.class_id, p.score), (Some(1), 0, 0.9));
        let truth = walker.at(f as f64, 0.9, 0.0, &mut rng).bbox;
        assert!(
            iou(p.bbox, truth) > 0.8,
            "frame {f}: {:?} vs {truth:?}",
            p.bbox
        );
        let [x, y, s] = p.keypoints[0];
        assert!((x - (p.bbox[0] + 10.0)).abs() < 0.5 && (y - (p.bbox[1] + 20.0)).abs() < 0.5);
        assert_eq!(s, 0.7);
    }
}

#[test]
fn missing_every_other_frame_keeps_id() {
    let mut rng = Rng::new(5);
    let m = Mover::person(100.0, 300.0, 5.0, -1.0);
    let frames = (0..120)
        .map(|f| {
            let t = f as f64;
            let dets = if f % 2 == 0 {
                vec![(0, m.at(t, 0.9, 1.5, &mut rng))]
            } else {
                Vec::new()
            };
            (t * DT, dets)
        })
        .collect();
    let ids = run(&mut Tracker::default(), frames, 1);
    assert_eq!(single_id(&ids[0]), 1);
}

/// Fast movers (10 px per nominal frame, boxes 50 px wide) sampled at the given times.
fn fast_movers_at(times: &[f64]) -> Vec<Vec<Option<u64>>> {
    let mut rng = Rng::new(6);
    let movers = [
        Mover::person(100.0, 200.0, 10.0, 0.0),
        Mover::person(1500.0, 500.0, -10.0, 2.0),
        Mover::person(300.0, 800.0, 7.0, -7.0),
    ];
    let frames = times
        .iter()
        .map(|&pts| {
            let t = pts / DT;
            let dets = movers
                .iter()
                .enumerate()
                .map(|(o, m)| (o, m.at(t, 0.9, 1.0, &mut rng)))
                .collect();
            (pts, dets)
        })
        .collect();
    run(&mut Tracker::default(), frames, movers.len())
}

#[test]
fn every_third_frame_keeps_ids() {
    // `--every 3`: pts advance by 3 nominal frames, objects move 30 px between updates.
    let times: Vec<f64> = (0..60).map(|k| 3.0 * k as f64 * DT).collect();
    for ids in fast_movers_at(&times) {
        single_id(&ids);
    }
}

#[test]
fn irregular_frame_times_keep_ids() {
    // Live mode dropping frames: after 10 regular frames (to learn the velocities), gaps of 1 to
    // 6 nominal frames with a little jitter. A gap of 6 moves an object 60 px, more than its
    // width: only prediction by elapsed time keeps up.
    let mut rng = Rng::new(7);
    let mut times = vec![0.0];
    for k in 0..90 {
        let gap = if k < 10 {
            1.0
        } else {
            [1.0, 1.0, 2.0, 3.0, 6.0][(rng.next_u64() % 5) as usize]
        };
        let last = times.last().copied().unwrap_or(0.0);
        times.push(last + gap * DT + f64::from(rng.noise(3.0)));
    }
    let ids = fast_movers_at(&times);
    let mut got: Vec<u64> = ids.iter().map(|i| single_id(i)).collect();
    got.sort_unstable();
    assert_eq!(got, vec![1, 2, 3]);
}

#[test]
fn person_and_dog_overlapping_keep_separate_tracks() {
    let mut rng = Rng::new(8);
    let person = Mover::person(300.0, 300.0, 2.0, 0.0);
    let dog = Mover {
        class_id: 1,
        y: 320.0,
        h: 90.0,
        w: 60.0,
        ..person
    };
    let frames = (0..90)
        .map(|f| {
            let t = f as f64;
            let mut dets = vec![(1, dog.at(t, 0.8, 1.0, &mut rng))];
            if f % 4 != 3 {
                dets.push((0, person.at(t, 0.8, 1.0, &mut rng)));
            }
            (t * DT, dets)
        })
        .collect();
    let mut tracker = Tracker::default();
    let ids = run(&mut tracker, frames, 2);
    assert_ne!(single_id(&ids[0]), single_id(&ids[1]));
    let counts: Vec<(&str, usize)> = tracker
        .unique_tracks_per_class()
        .iter()
        .map(|(k, &v)| (k.as_ref(), v))
        .collect();
    assert_eq!(counts, vec![("dog", 1), ("person", 1)]);
}

#[test]
fn a_person_never_becomes_a_dog() {
    // The person leaves and a dog is detected in the very same place: a new track, not the
    // person's.
    let mut tracker = Tracker::default();
    let b = centred(300.0, 300.0, 60.0, 120.0);
    for f in 0..30 {
        let mut dets = vec![det(0, 0.9, b)];
        tracker.update(f as f64 * DT, &mut dets);
        assert_eq!(dets[0].track_id, Some(1));
    }
    for f in 30..40 {
        let mut dets = vec![det(1, 0.9, b)];
        tracker.update(f as f64 * DT, &mut dets);
        let want = if f == 30 { None } else { Some(2) };
        assert_eq!(dets[0].track_id, want);
    }
    // Meanwhile the person's track was lost and predicted in place.
    let missing = tracker.predicted_missing();
    assert_eq!(missing.len(), 1);
    assert_eq!((missing[0].track_id, missing[0].class_id), (Some(1), 0));
}

#[test]
fn low_score_continues_a_track_but_never_starts_one() {
    let mut rng = Rng::new(9);
    let a = Mover::person(100.0, 300.0, 2.0, 0.0);
    let b = Mover::person(800.0, 300.0, -1.0, 0.0);
    let frames = (0..60)
        .map(|f| {
            let t = f as f64;
            // `a` is confident for 10 frames, then only faintly detected (partly occluded).
            let score_a = if f < 10 { 0.9 } else { 0.3 };
            let dets = vec![
                (0, a.at(t, score_a, 1.0, &mut rng)),
                (1, b.at(t, 0.3, 1.0, &mut rng)),
            ];
            (t * DT, dets)
        })
        .collect();
    let mut tracker = Tracker::default();
    let ids = run(&mut tracker, frames, 2);
    assert_eq!(single_id(&ids[0]), 1);
    assert!(ids[1].iter().all(Option::is_none), "{:?}", ids[1]);
    assert_eq!(tracker.unique_tracks_per_class().get("person"), Some(&1));
}

#[test]
fn low_score_below_low_thresh_is_ignored() {
    let mut tracker = Tracker::default();
    let b = centred(100.0, 100.0, 40.0, 80.0);
    let mut dets = vec![det(0, 0.9, b)];
    tracker.update(0.0, &mut dets);
    assert_eq!(dets[0].track_id, Some(1));
    let mut dets = vec![det(0, 0.05, b)];
    tracker.update(DT, &mut dets);
    assert_eq!(dets[0].track_id, None);
    assert_eq!(tracker.predicted_missing().len(), 1);
}

#[test]
fn single_frame_noise_gets_no_id() {
    let mut tracker = Tracker::default();
    let still = centred(200.0, 200.0, 50.0, 100.0);
    for f in 0..20 {
        let mut dets = vec![det(0, 0.9, still)];
        if f == 10 {
            dets.push(det(0, 0.95, centred(700.0, 400.0, 50.0, 100.0)));
        }
        tracker.update(f as f64 * DT, &mut dets);
        // On the very first frame the object is confirmed at once.
        assert_eq!(dets[0].track_id, Some(1));
        if f == 10 {
            assert_eq!(dets[1].track_id, None);
        }
    }
    assert_eq!(tracker.unique_tracks_per_class().get("person"), Some(&1));
}

#[test]
fn new_track_needs_new_track_thresh() {
    let mut tracker = Tracker::default();
    tracker.update(0.0, &mut Vec::new());
    let b = centred(200.0, 200.0, 50.0, 100.0);
    // 0.55 is a high-score detection (it can continue tracks) but below new_track_thresh 0.6.
    for f in 1..5 {
        let mut dets = vec![det(0, 0.55, b)];
        tracker.update(f as f64 * DT, &mut dets);
        assert_eq!(dets[0].track_id, None);
    }
    assert!(tracker.unique_tracks_per_class().is_empty());
}

#[test]
fn ids_are_never_reused_after_reset() {
    let mut tracker = Tracker::default();
    let boxes = [
        centred(100.0, 100.0, 40.0, 80.0),
        centred(400.0, 100.0, 40.0, 80.0),
    ];
    let pass = |tracker: &mut Tracker| -> Vec<u64> {
        let mut out = Vec::new();
        for f in 0..10 {
            let mut dets: Vec<Detection> = boxes.iter().map(|&b| det(0, 0.9, b)).collect();
            tracker.update(f as f64 * DT, &mut dets);
            out = dets.iter().filter_map(|d| d.track_id).collect();
        }
        out
    };
    assert_eq!(pass(&mut tracker), vec![1, 2]);
    tracker.reset();
    assert_eq!(pass(&mut tracker), vec![3, 4]);
    assert_eq!(tracker.unique_tracks_per_class().get("person"), Some(&4));
    tracker.reset();
    tracker.clear_counts();
    assert_eq!(pass(&mut tracker), vec![5, 6]);
    assert_eq!(tracker.unique_tracks_per_class().get("person"), Some(&2));
}

#[test]
fn time_going_backwards_resets() {
    let mut tracker = Tracker::default();
    let b = centred(100.0, 100.0, 40.0, 80.0);
    for f in 0..10 {
        let mut dets = vec![det(0, 0.9, b)];
        tracker.update(1000.0 + f as f64 * DT, &mut dets);
        assert_eq!(dets[0].track_id, Some(1));
    }
    // Seek back: the same box is a new object on a "first frame", confirmed at once.
    let mut dets = vec![det(0, 0.9, b)];
    tracker.update(500.0, &mut dets);
    assert_eq!(dets[0].track_id, Some(2));
    assert!(tracker.predicted_missing().is_empty());
}

#[test]
fn redo_from_a_clone_keeps_the_previous_ids() {
    let mut rng = Rng::new(10);
    let movers = [
        Mover::person(100.0, 200.0, 3.0, 0.0),
        Mover::person(600.0, 200.0, -2.0, 1.0),
    ];
    let mut tracker = Tracker::default();
    let frame = |t: f64, scores: &[f32], rng: &mut Rng| -> Vec<Detection> {
        movers
            .iter()
            .zip(scores)
            .map(|(m, &s)| m.at(t, s, 1.0, rng))
            .collect()
    };
    for f in 0..10 {
        let mut dets = frame(f as f64, &[0.9, 0.9], &mut rng);
        tracker.update(f as f64 * DT, &mut dets);
    }
    let before = tracker.clone();
    // Frame 10 first decoded with a high display threshold: the second person is filtered out.
    let mut dets = frame(10.0, &[0.9], &mut rng);
    tracker.update(10.0 * DT, &mut dets);
    assert_eq!(dets[0].track_id, Some(1));
    // Paused, threshold lowered, frame 10 decoded again: redo from the clone.
    tracker = before.clone();
    let mut dets = frame(10.0, &[0.9, 0.9], &mut rng);
    dets.push(det(0, 0.9, centred(1200.0, 700.0, 40.0, 90.0)));
    tracker.update(10.0 * DT, &mut dets);
    let ids: Vec<Option<u64>> = dets.iter().map(|d| d.track_id).collect();
    assert_eq!(ids, vec![Some(1), Some(2), None]);
    // Playing on, the newcomer gets the next ID.
    let mut dets = frame(11.0, &[0.9, 0.9], &mut rng);
    dets.push(det(0, 0.9, centred(1200.0, 700.0, 40.0, 90.0)));
    tracker.update(11.0 * DT, &mut dets);
    let ids: Vec<Option<u64>> = dets.iter().map(|d| d.track_id).collect();
    assert_eq!(ids, vec![Some(1), Some(2), Some(3)]);
}

#[test]
fn keypoints_ride_along_unchanged() {
    let mut tracker = Tracker::default();
    let mut d = det(0, 0.9, centred(100.0, 100.0, 40.0, 80.0));
    d.keypoints = vec![[95.0, 70.0, 0.9], [105.0, 70.0, 0.8], [100.0, 80.0, 0.1]];
    let mut dets = vec![d.clone()];
    tracker.update(0.0, &mut dets);
    assert_eq!(dets[0].track_id, Some(1));
    assert_eq!(
        Detection {
            track_id: None,
            ..dets[0].clone()
        },
        d
    );
}

#[test]
fn degenerate_input_is_ignored() {
    let mut tracker = Tracker::default();
    let mut dets = vec![
        det(0, 0.9, [10.0, 10.0, 10.0, 50.0]),
        det(0, 0.9, [f32::NAN, 10.0, 20.0, 50.0]),
        det(0, f32::NAN, [10.0, 10.0, 20.0, 50.0]),
        det(0, 0.9, [30.0, 50.0, 20.0, 10.0]),
        det(0, 0.9, [100.0, 100.0, 140.0, 180.0]),
    ];
    for pts in [0.0, f64::NAN, f64::INFINITY, 2.0 * DT] {
        tracker.update(pts, &mut dets);
        let ids: Vec<Option<u64>> = dets.iter().map(|d| d.track_id).collect();
        assert_eq!(ids, vec![None, None, None, None, Some(1)]);
    }
    let mut odd = Tracker::new(TrackerParams {
        frame_interval_ms: 0.0,
        lost_buffer_s: f64::NAN,
        ..TrackerParams::default()
    });
    odd.update(0.0, &mut dets);
    odd.update(DT, &mut dets);
    assert_eq!(dets[4].track_id, Some(1));
}

#[test]
fn with_high_thresh_derives_new_track_thresh() {
    let p = TrackerParams::default().with_high_thresh(0.4);
    assert!((p.new_track_thresh - 0.5).abs() < 1e-6);
    let p = TrackerParams::default().with_high_thresh(0.9);
    assert!((p.new_track_thresh - 0.95).abs() < 1e-6);
    assert_eq!(
        TrackerParams::default().with_high_thresh(0.5),
        TrackerParams::default()
    );
}

/// 50 objects, each wandering smoothly inside its own cell of a 10 × 5 grid on a 1080p frame,
/// with jitter; plus a crowd variant where neighbours overlap. `frames` updates.
fn fifty_objects(frames: usize, crowd: bool, seed: u64) -> Vec<(f64, Vec<Detection>)> {
    let mut rng = Rng::new(seed);
    let objects: Vec<(f32, f32, f32, f32, f32)> = (0..50)
        .map(|k| {
            let (cx, cy) = (
                96.0 + 192.0 * (k % 10) as f32,
                108.0 + 216.0 * (k / 10) as f32,
            );
            let period = 60.0 + 90.0 * rng.f64() as f32;
            let phase = std::f32::consts::TAU * rng.f64() as f32;
            let amp = if crowd { 70.0 } else { 40.0 };
            (cx, cy, period, phase, amp)
        })
        .collect();
    let (w, h) = if crowd { (150.0, 200.0) } else { (60.0, 120.0) };
    (0..frames)
        .map(|f| {
            let dets = objects
                .iter()
                .map(|&(cx, cy, period, phase, amp)| {
                    let a = f as f32 / period * std::f32::consts::TAU + phase;
                    let b = centred(cx + amp * a.cos(), cy + 0.5 * amp * a.sin(), w, h);
                    det(0, 0.9, b.map(|v| v + rng.noise(1.5)))
                })
                .collect();
            (f as f64 * DT, dets)
        })
        .collect()
}

#[test]
fn fifty_objects_keep_fifty_ids() {
    for crowd in [false, true] {
        let mut tracker = Tracker::default();
        let mut ids = vec![Vec::new(); 50];
        for (pts, mut dets) in fifty_objects(300, crowd, 11) {
            tracker.update(pts, &mut dets);
            for (o, d) in dets.iter().enumerate() {
                ids[o].push(d.track_id);
            }
        }
        let mut got: Vec<u64> = ids.iter().map(|i| single_id(i)).collect();
        got.sort_unstable();
        assert_eq!(got, (1..=50).collect::<Vec<u64>>(), "crowd={crowd}");
    }
}
