//! Drawing detections onto a picture for `--annotate` (the GUI draws with egui instead).

use super::style::{box_color, KEYPOINT_SCORE_MIN};
use crate::Detection;
use image::{Rgb, RgbImage};

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

/// Boxes (track colour, or class colour without tracking), keypoints and skeleton edges.
pub fn draw_detections(img: &mut RgbImage, detections: &[Detection], skeleton: &[[usize; 2]]) {
    let thickness = ((img.width().max(img.height()) as f32 / 400.0).ceil() as i64).clamp(2, 6);
    for d in detections {
        let color = box_color(d, true);
        let [x1, y1, x2, y2] = d.bbox;
        line(img, (x1, y1), (x2, y1), color, thickness);
        line(img, (x2, y1), (x2, y2), color, thickness);
        line(img, (x2, y2), (x1, y2), color, thickness);
        line(img, (x1, y2), (x1, y1), color, thickness);
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
        draw_detections(&mut img, &[d], &[]);
        assert_eq!(img.get_pixel(25, 10).0, class_color(3));
        assert_eq!(img.get_pixel(25, 20).0, [0, 0, 0]);
    }

    #[test]
    fn colors_differ_between_neighbouring_classes() {
        assert_ne!(class_color(0), class_color(1));
    }
}
