//! Playback control of the [`Player`]: pause, step, seek, speed and looping.

use super::super::settings::Settings;
use super::Player;
use crate::source::SeekTarget;

impl Player {
    /// Play/pause; at the end of a clip, one press restarts it from the beginning.
    pub fn toggle_pause(&mut self) {
        let Some(p) = &mut self.playing else { return };
        let c = p.pipeline.controls().clone();
        if p.ended {
            p.ended = false;
            c.set_paused(false);
            c.seek(SeekTarget::Frame(0));
            self.reset_tracks();
            return;
        }
        c.set_paused(!c.is_paused());
    }

    /// Step one frame forward (`delta` = 1) or back (-1), pausing first.
    pub fn step(&mut self, delta: i64) {
        let current = self.shown.as_ref().map(|s| s.frame.index);
        let Some(p) = &mut self.playing else { return };
        if p.info.is_live() {
            return;
        }
        let c = p.pipeline.controls().clone();
        c.set_paused(true);
        if delta >= 0 {
            c.step();
        } else if let Some(i) = current {
            p.ended = false;
            c.seek(SeekTarget::Frame(i.saturating_sub(1)));
            self.seeking = true;
            self.reset_tracks();
        }
    }

    pub fn seek_ms(&mut self, ms: f64) {
        let Some(p) = &mut self.playing else { return };
        p.ended = false;
        p.pipeline.controls().seek(SeekTarget::TimeMs(ms));
        self.seeking = true;
        self.reset_tracks();
    }

    pub fn set_speed(&mut self, speed: f64) {
        if let Some(p) = &self.playing {
            p.pipeline.controls().set_speed(speed);
        }
    }

    pub fn set_looping(&mut self, settings: &mut Settings, looping: bool) {
        settings.looping = looping;
        if let Some(p) = &self.playing {
            p.pipeline.controls().set_looping(looping);
        }
    }
}
