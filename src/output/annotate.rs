//! Drawing detections onto a picture for `--annotate` and annotated exports (the GUI draws
//! with egui instead): boxes in the track's (or class's) colour, a label with class, track ID
//! and score in the window's font (Ubuntu Light, egui's default, rendered by `ab_glyph`),
//! keypoints and skeleton edges.

use super::style::{box_color, LabelParts, KEYPOINT_SCORE_MIN};
use crate::Detection;
use ab_glyph::{Font, FontRef, PxScale, ScaleFont};
use image::{Rgb, RgbImage};
use std::sync::OnceLock;

/// The label font: the same typeface the window uses for its text.
fn label_font() -> Option<&'static FontRef<'static>> {
    static FONT: OnceLock<Option<FontRef<'static>>> = OnceLock::new();
    FONT.get_or_init(|| FontRef::try_from_slice(epaint_default_fonts::UBUNTU_LIGHT).ok())
        .as_ref()
}

/// Width and height in pixels of `text` at `px`.
fn text_size(font: &FontRef<'_>, px: f32, text: &str) -> (f32, f32) {
    let f = font.as_scaled(PxScale::from(px));
    let mut w = 0.0;
    let mut prev = None;
    for c in text.chars() {
        let id = f.glyph_id(c);
        if let Some(p) = prev {
            w += f.kern(p, id);
        }
        w += f.h_advance(id);
        prev = Some(id);
    }
    (w, f.height())
}

/// A filled label box whose top-left corner is at `(x, y)`, with `text` in black or white
/// (whichever reads better on `bg`).
pub fn draw_label(img: &mut RgbImage, x: f32, y: f32, px: f32, text: &str, bg: [u8; 3]) {
    let Some(font) = label_font() else { return };
    let (tw, th) = text_size(font, px, text);
    let pad = (px * 0.2).ceil();
    let (bw, bh) = (tw + 2.0 * pad, th + pad);
    // Keep the label inside the picture.
    let x = x.min(img.width() as f32 - bw).max(0.0);
    let y = y.min(img.height() as f32 - bh).max(0.0);
    for yy in y as i64..(y + bh).ceil() as i64 {
        for xx in x as i64..(x + bw).ceil() as i64 {
            put(img, xx, yy, bg);
        }
    }
    let luma = 0.299 * bg[0] as f32 + 0.587 * bg[1] as f32 + 0.114 * bg[2] as f32;
    let ink = if luma > 140.0 {
        [0, 0, 0]
    } else {
        [255, 255, 255]
    };
    let scaled = font.as_scaled(PxScale::from(px));
    let mut caret = x + pad;
    let baseline = y + pad / 2.0 + scaled.ascent();
    let mut prev = None;
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        let glyph = id.with_scale_and_position(px, ab_glyph::point(caret, baseline));
        caret += scaled.h_advance(id);
        prev = Some(id);
        let Some(outline) = font.outline_glyph(glyph) else {
            continue;
        };
        let bounds = outline.px_bounds();
        outline.draw(|gx, gy, coverage| {
            let (px_x, px_y) = (
                bounds.min.x as i64 + gx as i64,
                bounds.min.y as i64 + gy as i64,
            );
            if px_x < 0 || px_y < 0 || px_x >= img.width() as i64 || px_y >= img.height() as i64 {
                return;
            }
            let p = img.get_pixel_mut(px_x as u32, px_y as u32);
            let a = coverage.clamp(0.0, 1.0);
            for (c, i) in p.0.iter_mut().zip(ink) {
                *c = (*c as f32 * (1.0 - a) + i as f32 * a).round() as u8;
            }
        });
    }
}

fn put(img: &mut RgbImage, x: i64, y: i64, color: [u8; 3]) {
    if x >= 0 && y >= 0 && (x as u32) < img.width() && (y as u32) < img.height() {
        img.put_pixel(x as u32, y as u32, Rgb(color));
    }
}

fn line(
    img: &mut RgbImage,
    (x0, y0): (f32, f32),
    (x1, y1): (f32, f32),
    color: [u8; 3],
    thickness: i64,
) {
    let steps = ((x1 - x0).abs().max((y1 - y0).abs()).ceil() as i64).max(1);
    for i in 0..=steps {
        let t = i as f32 / steps as f32;
        let (x, y) = (
            (x0 + (x1 - x0) * t).round() as i64,
            (y0 + (y1 - y0) * t).round() as i64,
        );
        for dy in -(thickness / 2)..=(thickness - 1) / 2 {
            for dx in -(thickness / 2)..=(thickness - 1) / 2 {
                put(img, x + dx, y + dy, color);
            }
        }
    }
}

/// Boxes (track colour, or class colour without tracking) with their labels, keypoints and
/// skeleton edges.
pub fn draw_detections(img: &mut RgbImage, detections: &[Detection], skeleton: &[[usize; 2]]) {
    draw_detections_with(img, detections, skeleton, Some(LabelParts::ALL));
}

/// [`draw_detections`] with the label parts to show (`None`: no labels).
pub fn draw_detections_with(
    img: &mut RgbImage,
    detections: &[Detection],
    skeleton: &[[usize; 2]],
    labels: Option<LabelParts>,
) {
    let long_side = img.width().max(img.height()) as f32;
    let thickness = ((long_side / 400.0).ceil() as i64).clamp(2, 6);
    let text_px = (long_side / 60.0).clamp(11.0, 28.0);
    for d in detections {
        let color = box_color(d, true);
        let [x1, y1, x2, y2] = d.bbox;
        line(img, (x1, y1), (x2, y1), color, thickness);
        line(img, (x2, y1), (x2, y2), color, thickness);
        line(img, (x2, y2), (x1, y2), color, thickness);
        line(img, (x1, y2), (x1, y1), color, thickness);
        if let Some(parts) = labels {
            let text = parts.text(d);
            if !text.is_empty() {
                // Above the box when there is room, else inside its top edge.
                let h = text_px * 1.4;
                let y = if y1 - h >= 0.0 { y1 - h } else { y1 };
                draw_label(img, x1 - thickness as f32 / 2.0, y, text_px, &text, color);
            }
        }
        for [a, b] in skeleton {
            if let (Some(p), Some(q)) = (d.keypoints.get(*a), d.keypoints.get(*b)) {
                if p[2] >= KEYPOINT_SCORE_MIN && q[2] >= KEYPOINT_SCORE_MIN {
                    line(
                        img,
                        (p[0], p[1]),
                        (q[0], q[1]),
                        [255, 255, 255],
                        thickness.max(2) - 1,
                    );
                }
            }
        }
        for kp in &d.keypoints {
            if kp[2] >= KEYPOINT_SCORE_MIN {
                let r = thickness + 1;
                for dy in -r..=r {
                    for dx in -r..=r {
                        if dx * dx + dy * dy <= r * r {
                            put(
                                img,
                                kp[0].round() as i64 + dx,
                                kp[1].round() as i64 + dy,
                                [255, 64, 64],
                            );
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::output::style::class_color;
    use std::sync::Arc;

    #[test]
    fn box_outline_is_drawn_in_class_color() {
        let mut img = RgbImage::new(50, 50);
        let d = Detection {
            label: Arc::from("x"),
            class_id: 3,
            score: 0.9,
            bbox: [10.0, 10.0, 40.0, 30.0],
            keypoints: vec![],
            track_id: None,
        };
        draw_detections_with(&mut img, &[d], &[], None);
        assert_eq!(img.get_pixel(25, 10).0, class_color(3));
        assert_eq!(img.get_pixel(25, 20).0, [0, 0, 0]);
    }

    #[test]
    fn labels_are_text_on_the_box_colour() {
        let mut img = RgbImage::new(300, 200);
        let d = Detection {
            label: Arc::from("person"),
            class_id: 0,
            score: 0.87,
            bbox: [50.0, 80.0, 250.0, 190.0],
            keypoints: vec![],
            track_id: Some(12),
        };
        draw_detections(&mut img, std::slice::from_ref(&d), &[]);
        let color = box_color(&d, true);
        // The label sits above the box: its background is the box colour, and its text adds
        // pixels of another colour (anti-aliased glyphs).
        let band: Vec<[u8; 3]> = (55..140)
            .flat_map(|x| (67..78).map(move |y| (x, y)))
            .map(|(x, y)| img.get_pixel(x, y).0)
            .collect();
        let background = band.iter().filter(|p| **p == color).count();
        let ink = band.iter().filter(|p| **p != color).count();
        assert!(
            background > band.len() / 3,
            "{background} of {}",
            band.len()
        );
        assert!(ink > 30, "text pixels: {ink}");
        // Nothing is written far above the box.
        assert_eq!(img.get_pixel(150, 20).0, [0, 0, 0]);
    }

    #[test]
    fn colors_differ_between_neighbouring_classes() {
        assert_ne!(class_color(0), class_color(1));
    }
}
