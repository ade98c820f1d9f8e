//! The video: the frame on screen (one reused texture, downscaled when larger than the GPU
//! allows), its overlay, the latency badge and the end-of-clip note; the welcome view when
//! nothing is open.

use super::overlay::{self, FrameToScreen, OverlayStyle};
use crate::app::state::CenterscopeApp;
use crate::output::style::LabelParts;
use crate::source::SourceKind;
use egui::{Align2, Color32, FontId, Pos2, Rect, Vec2};

/// Latency badge text for one frame.
pub fn latency_text(t: &crate::StageTimings, fps: f64, dropped: u64) -> String {
    format!(
        "inference {:.0} ms · pre {:.0} ms · post {:.0} ms · {fps:.1} fps · dropped {dropped}",
        t.inference, t.preprocess, t.postprocess
    )
}

/// The frame as a texture image no larger than `max_side` on either axis (the GPU's limit):
/// huge pictures are shown downscaled; detection and exports keep the full resolution, and the
/// overlay maps boxes through the frame's own size, so it is unaffected.
pub fn display_image(frame: &crate::Frame, max_side: usize) -> egui::ColorImage {
    let (w, h) = (frame.width as usize, frame.height as usize);
    let max_side = max_side.max(1);
    if w <= max_side && h <= max_side {
        return egui::ColorImage::from_rgb([w, h], &frame.rgb);
    }
    let scale = max_side as f64 / w.max(h) as f64;
    let (dw, dh) = (
        ((w as f64 * scale).round() as u32).clamp(1, max_side as u32),
        ((h as f64 * scale).round() as u32).clamp(1, max_side as u32),
    );
    let small = image::imageops::thumbnail(&frame.to_image(), dw, dh);
    egui::ColorImage::from_rgb([dw as usize, dh as usize], small.as_raw())
}

/// Upload the frame on screen into the one texture when it changed.
fn update_texture(app: &mut CenterscopeApp, ctx: &egui::Context) {
    if !app.player_mut().take_frame_changed() {
        return;
    }
    let Some(shown) = app.player().shown() else {
        app.texture = None;
        return;
    };
    let max_side = ctx.input(|i| i.max_texture_side);
    let image = if app.settings.anonymize_preview {
        // Covered at full resolution, exactly as an anonymised export would be.
        let mut img = shown.frame.to_image();
        let boxes: Vec<[f32; 4]> = shown
            .detections
            .iter()
            .chain(shown.predicted.iter())
            .map(|d| d.bbox)
            .collect();
        crate::output::cover::cover_boxes(&mut img, &boxes, &Default::default());
        let covered = crate::Frame::from_image(shown.frame.index, shown.frame.pts_ms, img);
        display_image(&covered, max_side)
    } else {
        display_image(&shown.frame, max_side)
    };
    match &mut app.texture {
        Some(t) if t.size() == image.size => t.set(image, egui::TextureOptions::LINEAR),
        _ => {
            app.texture = Some(ctx.load_texture("video-frame", image, egui::TextureOptions::LINEAR))
        }
    }
}

pub fn show(app: &mut CenterscopeApp, ui: &mut egui::Ui) {
    update_texture(app, ui.ctx());
    let (Some(texture), Some(shown)) = (&app.texture, app.player().shown()) else {
        super::welcome::show(app, ui);
        return;
    };
    let avail = ui.available_rect_before_wrap();
    let (fw, fh) = (shown.frame.width as f32, shown.frame.height as f32);
    let scale = (avail.width() / fw).min(avail.height() / fh);
    let rect = Rect::from_center_size(avail.center(), Vec2::new(fw * scale, fh * scale));
    let painter = ui.painter_at(avail);
    painter.image(
        texture.id(),
        rect,
        Rect::from_min_max(Pos2::ZERO, Pos2::new(1.0, 1.0)),
        Color32::WHITE,
    );
    let map = FrameToScreen { rect, scale };
    let player = app.player();
    let s = &app.settings;
    let tracks = player.tracking();
    let model = player.model().filter(|m| m.id == shown.model_id);
    let skeleton: &[[usize; 2]] = model.map(|m| m.manifest.skeleton.as_slice()).unwrap_or(&[]);
    if tracks {
        overlay::draw_trails(&painter, map, &player.trails());
    }
    let style = OverlayStyle {
        parts: LabelParts {
            label: s.show_labels,
            score: s.show_scores,
            track: tracks,
        },
        keypoints: s.show_keypoints,
        by_track: tracks,
    };
    overlay::draw(&painter, map, &shown.detections, skeleton, &style);
    if tracks && s.show_predicted {
        overlay::draw(&painter, map, &player.predicted(), &[], &style);
    }
    if s.show_stats {
        let text = format!(
            "{} · {} objects · {}",
            shown.model_id,
            shown.detections.len(),
            latency_text(&shown.timings, player.stats().fps(), player.dropped())
        );
        let galley = painter.layout_no_wrap(text, FontId::monospace(13.0), Color32::WHITE);
        let pos = Pos2::new(rect.min.x + 8.0, rect.max.y - galley.size().y - 16.0);
        painter.rect_filled(
            Rect::from_min_size(pos, galley.size() + Vec2::new(12.0, 8.0)),
            4.0,
            Color32::from_black_alpha(170),
        );
        painter.galley(pos + Vec2::new(6.0, 4.0), galley, Color32::WHITE);
    }
    let ended_clip =
        player.is_ended() && player.source().is_some_and(|i| i.kind != SourceKind::Image);
    if ended_clip {
        let galley = painter.layout_no_wrap(
            "end — press Play to restart".into(),
            FontId::proportional(16.0),
            Color32::WHITE,
        );
        let at = Align2::CENTER_TOP
            .align_size_within_rect(galley.size(), rect.shrink(12.0))
            .min;
        painter.rect_filled(
            Rect::from_min_size(at - Vec2::splat(6.0), galley.size() + Vec2::splat(12.0)),
            4.0,
            Color32::from_black_alpha(170),
        );
        painter.galley(at, galley, Color32::WHITE);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_frames_are_downscaled_for_display_only() {
        let f = crate::Frame::new(0, 0.0, 20000, 600, vec![7; 20000 * 600 * 3]);
        let img = display_image(&f, 8192);
        assert_eq!(img.size, [8192, 246]);
        let small = crate::Frame::new(0, 0.0, 640, 480, vec![7; 640 * 480 * 3]);
        assert_eq!(display_image(&small, 8192).size, [640, 480]);
    }
}
