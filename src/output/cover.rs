//! Covering detected regions (anonymisation): blur, pixelate, a solid fill or a replacement
//! picture, inside an ellipse or a box around each detection, enlarged by a scale factor.
//!
//! Strength is relative to the region's size, so a face far away and a face filling the frame
//! lose their detail alike: the blur's sigma is a fraction of the region's longer side, and the
//! mosaic has a fixed number of blocks across it.

use image::{Rgb, RgbImage};
use std::sync::Arc;

/// What a covered region shows.
#[derive(Clone, Debug, PartialEq)]
pub enum CoverStyle {
    Blur,
    Pixelate,
    Solid([u8; 3]),
    /// A picture stretched over the region.
    Image(Arc<RgbImage>),
    /// Nothing covered (with boxes drawn, for checking what would be covered).
    None,
}

/// The shape of a covered region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MaskShape {
    Ellipse,
    Box,
}

#[derive(Clone, Debug, PartialEq)]
pub struct CoverParams {
    pub style: CoverStyle,
    pub shape: MaskShape,
    /// Each box is enlarged by this factor around its centre before covering.
    pub scale: f32,
    /// Blur sigma as a fraction of the region's longer side.
    pub blur_strength: f32,
    /// Mosaic blocks across the region's longer side.
    pub mosaic_blocks: u32,
}

impl Default for CoverParams {
    fn default() -> Self {
        CoverParams {
            style: CoverStyle::Blur,
            shape: MaskShape::Ellipse,
            scale: 1.3,
            blur_strength: 0.1,
            mosaic_blocks: 8,
        }
    }
}

/// The enlarged region of `bbox` as `(cx, cy, half_w, half_h)`.
fn region(bbox: [f32; 4], scale: f32) -> (f32, f32, f32, f32) {
    let [x1, y1, x2, y2] = bbox;
    let (cx, cy) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
    let s = if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    };
    (cx, cy, (x2 - x1).abs() / 2.0 * s, (y2 - y1).abs() / 2.0 * s)
}

/// Cover every box in `img` (boxes in the picture's pixels).
pub fn cover_boxes(img: &mut RgbImage, boxes: &[[f32; 4]], params: &CoverParams) {
    for b in boxes {
        cover_one(img, *b, params);
    }
}

/// The whole picture covered (a frame whose detection failed must not show anything).
pub fn cover_all(img: &mut RgbImage, params: &CoverParams) {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let whole = CoverParams {
        shape: MaskShape::Box,
        scale: 1.0,
        ..params.clone()
    };
    cover_one(img, [0.0, 0.0, w, h], &whole);
}

fn cover_one(img: &mut RgbImage, bbox: [f32; 4], params: &CoverParams) {
    if matches!(params.style, CoverStyle::None) || bbox.iter().any(|v| !v.is_finite()) {
        return;
    }
    let (cx, cy, hw, hh) = region(bbox, params.scale);
    if hw < 0.5 || hh < 0.5 {
        return;
    }
    let (w, h) = img.dimensions();
    let x0 = (cx - hw).floor().clamp(0.0, w as f32) as u32;
    let y0 = (cy - hh).floor().clamp(0.0, h as f32) as u32;
    let x1 = (cx + hw).ceil().clamp(0.0, w as f32) as u32;
    let y1 = (cy + hh).ceil().clamp(0.0, h as f32) as u32;
    if x1 <= x0 || y1 <= y0 {
        return;
    }
    let (rw, rh) = (x1 - x0, y1 - y0);
    let longer = (2.0 * hw).max(2.0 * hh);
    let patch: RgbImage = match &params.style {
        CoverStyle::Blur => {
            let crop = image::imageops::crop_imm(img, x0, y0, rw, rh).to_image();
            let sigma = (params.blur_strength.max(0.0) * longer).max(1.0);
            // Blurring twice removes what one box-approximated pass lets through at the
            // strongest settings; for small sigmas one pass is already complete.
            let once = image::imageops::fast_blur(&crop, sigma);
            if sigma > 4.0 {
                image::imageops::fast_blur(&once, sigma / 2.0)
            } else {
                once
            }
        }
        CoverStyle::Pixelate => {
            let crop = image::imageops::crop_imm(img, x0, y0, rw, rh).to_image();
            let block = (longer / params.mosaic_blocks.max(1) as f32)
                .ceil()
                .max(1.0) as u32;
            pixelate(&crop, block)
        }
        CoverStyle::Solid(c) => RgbImage::from_pixel(rw, rh, Rgb(*c)),
        CoverStyle::Image(pic) => {
            // The picture spans the whole (unclipped) region; take the visible part.
            let (fw, fh) = ((2.0 * hw).round().max(1.0), (2.0 * hh).round().max(1.0));
            let full = image::imageops::resize(
                pic.as_ref(),
                fw as u32,
                fh as u32,
                image::imageops::FilterType::Triangle,
            );
            let ox = (x0 as f32 - (cx - hw)).round().max(0.0) as u32;
            let oy = (y0 as f32 - (cy - hh)).round().max(0.0) as u32;
            let mut out = RgbImage::new(rw, rh);
            for (x, y, p) in out.enumerate_pixels_mut() {
                let (sx, sy) = (
                    (ox + x).min(full.width() - 1),
                    (oy + y).min(full.height() - 1),
                );
                *p = *full.get_pixel(sx, sy);
            }
            out
        }
        CoverStyle::None => return,
    };
    for y in y0..y1 {
        let dy = (y as f32 + 0.5 - cy) / hh;
        for x in x0..x1 {
            let inside = match params.shape {
                MaskShape::Box => true,
                MaskShape::Ellipse => {
                    let dx = (x as f32 + 0.5 - cx) / hw;
                    dx * dx + dy * dy <= 1.0
                }
            };
            if inside {
                img.put_pixel(x, y, *patch.get_pixel(x - x0, y - y0));
            }
        }
    }
}

/// Each `block`×`block` cell replaced by its mean colour.
fn pixelate(img: &RgbImage, block: u32) -> RgbImage {
    let (w, h) = img.dimensions();
    let mut out = RgbImage::new(w, h);
    for by in (0..h).step_by(block as usize) {
        for bx in (0..w).step_by(block as usize) {
            let (ex, ey) = ((bx + block).min(w), (by + block).min(h));
            let mut sum = [0u64; 3];
            for y in by..ey {
                for x in bx..ex {
                    let p = img.get_pixel(x, y).0;
                    for c in 0..3 {
                        sum[c] += u64::from(p[c]);
                    }
                }
            }
            let n = u64::from((ex - bx) * (ey - by)).max(1);
            let mean = Rgb([(sum[0] / n) as u8, (sum[1] / n) as u8, (sum[2] / n) as u8]);
            for y in by..ey {
                for x in bx..ex {
                    out.put_pixel(x, y, mean);
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fine checkerboard: all detail, no structure.
    fn checker(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| {
            if (x + y) % 2 == 0 {
                Rgb([255, 255, 255])
            } else {
                Rgb([0, 0, 0])
            }
        })
    }

    /// Mean absolute difference between horizontal neighbours (fine detail) in a window.
    fn detail(img: &RgbImage, x0: u32, y0: u32, x1: u32, y1: u32) -> f64 {
        let mut sum = 0.0;
        let mut n = 0.0;
        for y in y0..y1 {
            for x in x0..x1 - 1 {
                let a = img.get_pixel(x, y).0[0] as f64;
                let b = img.get_pixel(x + 1, y).0[0] as f64;
                sum += (a - b).abs();
                n += 1.0;
            }
        }
        sum / n
    }

    #[test]
    fn blur_and_pixelate_remove_detail_inside_and_leave_outside_alone() {
        for style in [CoverStyle::Blur, CoverStyle::Pixelate] {
            let mut img = checker(200, 120);
            let before = img.clone();
            let params = CoverParams {
                style: style.clone(),
                ..Default::default()
            };
            cover_boxes(&mut img, &[[60.0, 30.0, 140.0, 90.0]], &params);
            // The centre has lost (almost) all of its detail.
            assert!(detail(&img, 90, 50, 110, 70) < 10.0, "{style:?}");
            // Far outside the enlarged ellipse nothing changed.
            assert_eq!(img.get_pixel(5, 5), before.get_pixel(5, 5));
            assert_eq!(img.get_pixel(195, 115), before.get_pixel(195, 115));
            // The corner of the box is outside the ellipse: untouched.
            assert_eq!(img.get_pixel(57, 26), before.get_pixel(57, 26));
        }
    }

    #[test]
    fn box_mask_covers_the_corners_and_solid_fills() {
        let mut img = checker(100, 100);
        let params = CoverParams {
            style: CoverStyle::Solid([1, 2, 3]),
            shape: MaskShape::Box,
            scale: 1.0,
            ..Default::default()
        };
        cover_boxes(&mut img, &[[10.0, 10.0, 50.0, 40.0]], &params);
        assert_eq!(img.get_pixel(10, 10).0, [1, 2, 3]);
        assert_eq!(img.get_pixel(49, 39).0, [1, 2, 3]);
        assert_ne!(img.get_pixel(50, 40).0, [1, 2, 3]);
    }

    #[test]
    fn regions_outside_or_degenerate_are_ignored_and_edges_are_clipped() {
        let mut img = checker(50, 50);
        let before = img.clone();
        let params = CoverParams::default();
        cover_boxes(
            &mut img,
            &[
                [200.0, 200.0, 300.0, 300.0],
                [10.0, 10.0, 10.0, 10.0],
                [f32::NAN, 0.0, 5.0, 5.0],
            ],
            &params,
        );
        assert_eq!(img, before);
        // Half outside the picture: the inside half is covered, nothing panics.
        cover_boxes(&mut img, &[[-20.0, -20.0, 20.0, 20.0]], &params);
        assert!(detail(&img, 0, 0, 8, 8) < 10.0);
    }

    #[test]
    fn replacement_image_and_whole_frame() {
        let mut img = checker(64, 64);
        let pic = Arc::new(RgbImage::from_pixel(4, 4, Rgb([9, 9, 9])));
        let params = CoverParams {
            style: CoverStyle::Image(pic),
            shape: MaskShape::Box,
            scale: 1.0,
            ..Default::default()
        };
        cover_boxes(&mut img, &[[0.0, 0.0, 32.0, 32.0]], &params);
        assert_eq!(img.get_pixel(16, 16).0, [9, 9, 9]);
        cover_all(&mut img, &CoverParams::default());
        assert!(detail(&img, 0, 0, 64, 64) < 10.0);
    }
}
