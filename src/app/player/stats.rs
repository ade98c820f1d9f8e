//! [`Stats`]: the latency history and result arrival times behind the latency plot and
//! the FPS readout.

use crate::StageTimings;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Frames of latency history kept for the plot.
pub const HISTORY: usize = 300;

/// Latency history and arrival times of recent results.
#[derive(Default)]
pub struct Stats {
    pub history: VecDeque<StageTimings>,
    arrivals: VecDeque<Instant>,
    pub results_received: u64,
}

impl Stats {
    pub(super) fn clear(&mut self) {
        self.history.clear();
        self.arrivals.clear();
    }

    pub(super) fn push(&mut self, t: StageTimings) {
        self.results_received += 1;
        self.arrivals.push_back(Instant::now());
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back(t);
    }

    pub(super) fn forget_old(&mut self) {
        while self
            .arrivals
            .front()
            .is_some_and(|t| t.elapsed() > Duration::from_secs(2))
        {
            self.arrivals.pop_front();
        }
    }

    /// Results per second over the last two seconds.
    pub fn fps(&self) -> f64 {
        match (self.arrivals.front(), self.arrivals.back()) {
            (Some(a), Some(b)) if self.arrivals.len() > 1 => {
                (self.arrivals.len() - 1) as f64 / (*b - *a).as_secs_f64().max(1e-3)
            }
            _ => 0.0,
        }
    }
}
