//! The boxes, labels, keypoints and track trails drawn over the video, in the style shared with
//! the exports (`output/style.rs`).

use crate::output::style::{box_color, LabelParts, KEYPOINT_SCORE_MIN};
use crate::Detection;
use egui::{Color32, FontId, Painter, Pos2, Rect, Stroke, StrokeKind, Vec2};

pub fn color([r, g, b]: [u8; 3]) -> Color32 {
    Color32::from_rgb(r, g, b)
}

/// Maps frame pixels to the screen rectangle the frame is drawn in.
#[derive(Clone, Copy)]
pub struct FrameToScreen {
    pub rect: Rect,
    pub scale: f32,
}

impl FrameToScreen {
    pub fn pos(&self, x: f32, y: f32) -> Pos2 {
        Pos2::new(
            self.rect.min.x + x * self.scale,
            self.rect.min.y + y * self.scale,
        )
    }
}

pub struct OverlayStyle {
    pub parts: LabelParts,
    pub keypoints: bool,
    pub by_track: bool,
}

/// Draw `detections` with `painter`.
pub fn draw(
    painter: &Painter,
    map: FrameToScreen,
    detections: &[Detection],
    skeleton: &[[usize; 2]],
    style: &OverlayStyle,
) {
    for d in detections {
        let col = color(box_color(d, style.by_track));
        let r = Rect::from_min_max(map.pos(d.bbox[0], d.bbox[1]), map.pos(d.bbox[2], d.bbox[3]));
        painter.rect_stroke(r, 2.0, Stroke::new(2.5, col), StrokeKind::Outside);
        if style.keypoints && !d.keypoints.is_empty() {
            draw_keypoints(painter, map, d, skeleton);
        }
        let text = style.parts.text(d);
        if text.is_empty() {
            continue;
        }
        let galley = painter.layout_no_wrap(text, FontId::proportional(14.0), Color32::BLACK);
        // Above the box, or inside its top edge when there is no room above.
        let above = r.min.y - galley.size().y - 2.0;
        let y = if above >= map.rect.min.y {
            above
        } else {
            r.min.y + 1.0
        };
        let pos = Pos2::new(r.min.x - 1.0, y);
        painter.rect_filled(
            Rect::from_min_size(pos, galley.size() + Vec2::new(6.0, 2.0)),
            2.0,
            col,
        );
        painter.galley(pos + Vec2::new(3.0, 1.0), galley, Color32::BLACK);
    }
}

fn draw_keypoints(painter: &Painter, map: FrameToScreen, d: &Detection, skeleton: &[[usize; 2]]) {
    for [a, b] in skeleton {
        if let (Some(p), Some(q)) = (d.keypoints.get(*a), d.keypoints.get(*b)) {
            if p[2] >= KEYPOINT_SCORE_MIN && q[2] >= KEYPOINT_SCORE_MIN {
                painter.line_segment(
                    [map.pos(p[0], p[1]), map.pos(q[0], q[1])],
                    Stroke::new(2.0, Color32::WHITE),
                );
            }
        }
    }
    for kp in &d.keypoints {
        if kp[2] >= KEYPOINT_SCORE_MIN {
            painter.circle_filled(map.pos(kp[0], kp[1]), 3.5, Color32::from_rgb(255, 64, 64));
        }
    }
}

/// Fading lines through the recent centres of each track (oldest faintest).
pub fn draw_trails(painter: &Painter, map: FrameToScreen, trails: &[(u64, Vec<[f32; 2]>)]) {
    for (id, points) in trails {
        let [r, g, b] = crate::output::style::track_color(*id);
        let n = points.len();
        for (i, w) in points.windows(2).enumerate() {
            let alpha = (40 + 215 * (i + 1) / n.max(1)) as u8;
            painter.line_segment(
                [map.pos(w[0][0], w[0][1]), map.pos(w[1][0], w[1][1])],
                Stroke::new(2.0, Color32::from_rgba_unmultiplied(r, g, b, alpha)),
            );
        }
    }
}
