//! Latency and throughput accounting for a run.

use crate::StageTimings;
use serde::Serialize;

/// Median and 95th percentile of a set of samples, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Percentiles {
    pub median_ms: f64,
    pub p95_ms: f64,
}

/// Nearest-rank percentile (`q` in 0..=1) of unsorted samples; 0 when empty.
pub fn percentile(samples: &[f64], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut s: Vec<f64> = samples.iter().copied().filter(|v| v.is_finite()).collect();
    if s.is_empty() {
        return 0.0;
    }
    s.sort_by(f64::total_cmp);
    let rank = ((q.clamp(0.0, 1.0) * s.len() as f64).ceil() as usize).clamp(1, s.len());
    s[rank - 1]
}

pub fn percentiles(samples: &[f64]) -> Percentiles {
    Percentiles {
        median_ms: percentile(samples, 0.5),
        p95_ms: percentile(samples, 0.95),
    }
}

/// The stages of a frame's journey, with one spelling (the JSON Lines `timing_ms` keys).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    Decode,
    Preprocess,
    Inference,
    Postprocess,
    Queue,
    EndToEnd,
}

impl Stage {
    pub const ALL: [Stage; 6] = [
        Stage::Decode,
        Stage::Preprocess,
        Stage::Inference,
        Stage::Postprocess,
        Stage::Queue,
        Stage::EndToEnd,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Preprocess => "preprocess",
            Stage::Inference => "inference",
            Stage::Postprocess => "postprocess",
            Stage::Queue => "queue",
            Stage::EndToEnd => "end_to_end",
        }
    }

    /// This stage's time in `t`, if it was measured.
    pub fn of(self, t: &StageTimings) -> Option<f64> {
        match self {
            Stage::Decode => t.decode,
            Stage::Preprocess => Some(t.preprocess),
            Stage::Inference => Some(t.inference),
            Stage::Postprocess => Some(t.postprocess),
            Stage::Queue => t.queue,
            Stage::EndToEnd => t.end_to_end,
        }
    }
}

/// Per-stage samples of a run.
#[derive(Clone, Debug, Default)]
pub struct StageSamples {
    pub decode: Vec<f64>,
    pub preprocess: Vec<f64>,
    pub inference: Vec<f64>,
    pub postprocess: Vec<f64>,
    pub queue: Vec<f64>,
    pub end_to_end: Vec<f64>,
}

impl StageSamples {
    pub fn push(&mut self, t: &StageTimings) {
        self.decode.extend(t.decode);
        self.preprocess.push(t.preprocess);
        self.inference.push(t.inference);
        self.postprocess.push(t.postprocess);
        self.queue.extend(t.queue);
        self.end_to_end.extend(t.end_to_end);
    }

    pub fn len(&self) -> usize {
        self.inference.len()
    }

    pub fn is_empty(&self) -> bool {
        self.inference.is_empty()
    }

    fn samples(&self, stage: Stage) -> &[f64] {
        match stage {
            Stage::Decode => &self.decode,
            Stage::Preprocess => &self.preprocess,
            Stage::Inference => &self.inference,
            Stage::Postprocess => &self.postprocess,
            Stage::Queue => &self.queue,
            Stage::EndToEnd => &self.end_to_end,
        }
    }

    /// Named stages with their percentiles (stages without samples are left out).
    pub fn summary(&self) -> Vec<(&'static str, Percentiles)> {
        Stage::ALL
            .into_iter()
            .filter(|s| !self.samples(*s).is_empty())
            .map(|s| (s.name(), percentiles(self.samples(s))))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.95), 95.0);
        assert_eq!(percentile(&[3.0], 0.95), 3.0);
        assert_eq!(percentile(&[], 0.5), 0.0);
    }
}
