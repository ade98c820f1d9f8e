//! How detections look, wherever they are drawn: the window's overlay (`app/ui/overlay.rs`) and
//! the annotated pictures and videos (`annotate.rs`) use the same colours, label text and
//! keypoint cut-off.

use crate::Detection;

/// Keypoints scoring below this are not drawn.
pub const KEYPOINT_SCORE_MIN: f32 = 0.2;

/// A distinct, stable colour per class (golden-angle hue walk).
pub fn class_color(class_id: usize) -> [u8; 3] {
    hue_color(class_id as f32 * 137.508 + 30.0)
}

/// A distinct, stable colour per track (a different walk, so a track's colour is not its
/// class's).
pub fn track_color(track_id: u64) -> [u8; 3] {
    hue_color((track_id % 1000) as f32 * 97.0 + 200.0)
}

/// The colour of a detection's box: its track's when it has one and tracks are shown, else
/// its class's.
pub fn box_color(d: &Detection, by_track: bool) -> [u8; 3] {
    match d.track_id {
        Some(id) if by_track => track_color(id),
        _ => class_color(d.class_id),
    }
}

fn hue_color(hue: f32) -> [u8; 3] {
    let h = hue % 360.0;
    let (s, v) = (0.85f32, 1.0f32);
    let c = v * s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let m = v - c;
    [
        ((r + m) * 255.0) as u8,
        ((g + m) * 255.0) as u8,
        ((b + m) * 255.0) as u8,
    ]
}

/// What the label of a box says: `person #12 0.81` (parts left out as asked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelParts {
    pub label: bool,
    pub score: bool,
    pub track: bool,
}

impl LabelParts {
    pub const ALL: LabelParts = LabelParts {
        label: true,
        score: true,
        track: true,
    };

    pub fn text(&self, d: &Detection) -> String {
        let mut parts = Vec::with_capacity(3);
        if self.label {
            parts.push(d.label.to_string());
        }
        if let (true, Some(id)) = (self.track, d.track_id) {
            parts.push(format!("#{id}"));
        }
        if self.score {
            parts.push(format!("{:.2}", d.score));
        }
        parts.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn label_text_and_colours() {
        let mut d = Detection {
            label: Arc::from("person"),
            class_id: 0,
            score: 0.8123,
            bbox: [0.0; 4],
            keypoints: vec![],
            track_id: Some(12),
        };
        assert_eq!(LabelParts::ALL.text(&d), "person #12 0.81");
        let no_score = LabelParts {
            score: false,
            ..LabelParts::ALL
        };
        assert_eq!(no_score.text(&d), "person #12");
        d.track_id = None;
        assert_eq!(LabelParts::ALL.text(&d), "person 0.81");
        assert_ne!(class_color(0), class_color(1));
        assert_ne!(track_color(1), track_color(2));
        assert_eq!(box_color(&d, true), class_color(0));
    }
}
