//! Fitting a frame of any size into a network input, and remembering how, so every box and
//! keypoint can be mapped back to source pixels.
//!
//! Resizing is a separable, antialiased bilinear filter (the same "triangle filter widened by
//! the downscale factor" as Pillow's `BILINEAR`), because reference pipelines were built with
//! Pillow and a plain 2-tap bilinear aliases badly when 1080p is shrunk to 512. Resize, channel
//! order, normalisation and layout are done in one pass into the tensor buffer, with the filter
//! weights and the intermediate buffer kept between frames.

use crate::model::manifest::{Channels, InputSpec, Layout, ResizePolicy};

/// Maps source pixels to network-input pixels: `net = src * scale + pad`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Transform {
    pub scale_x: f32,
    pub scale_y: f32,
    pub pad_x: f32,
    pub pad_y: f32,
}

impl Transform {
    pub const IDENTITY: Transform = Transform {
        scale_x: 1.0,
        scale_y: 1.0,
        pad_x: 0.0,
        pad_y: 0.0,
    };

    /// Network-input point → source point.
    pub fn to_source(&self, x: f32, y: f32) -> (f32, f32) {
        (
            (x - self.pad_x) / self.scale_x,
            (y - self.pad_y) / self.scale_y,
        )
    }
}

/// Where the resized picture sits inside the network input.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    pub content_w: usize,
    pub content_h: usize,
    pub transform: Transform,
}

/// Work out the placement of a `src_w`×`src_h` picture in a `net_w`×`net_h` input.
pub fn placement(
    policy: ResizePolicy,
    src_w: usize,
    src_h: usize,
    net_w: usize,
    net_h: usize,
) -> Placement {
    let (content_w, content_h) = match policy {
        ResizePolicy::Stretch => (net_w, net_h),
        ResizePolicy::Letterbox => {
            let s = (net_w as f64 / src_w as f64).min(net_h as f64 / src_h as f64);
            fit(src_w, src_h, s, net_w, net_h)
        }
        ResizePolicy::PadSquare => {
            // Padding to a square first and resizing the square is the same placement as a
            // top-left letterbox with the long side's scale.
            let long = src_w.max(src_h) as f64;
            let s = (net_w as f64 / long).min(net_h as f64 / long);
            fit(src_w, src_h, s, net_w, net_h)
        }
    };
    Placement {
        content_w,
        content_h,
        transform: Transform {
            scale_x: content_w as f32 / src_w as f32,
            scale_y: content_h as f32 / src_h as f32,
            pad_x: 0.0,
            pad_y: 0.0,
        },
    }
}

fn fit(src_w: usize, src_h: usize, s: f64, net_w: usize, net_h: usize) -> (usize, usize) {
    let w = ((src_w as f64 * s).round() as usize).clamp(1, net_w);
    let h = ((src_h as f64 * s).round() as usize).clamp(1, net_h);
    (w, h)
}

/// Round to the nearest 8-bit value. `f32::round` is a library call on baseline x86-64 (no
/// SSE4.1); clamping first makes a truncating conversion exact and vectorisable.
#[inline]
fn round_u8(v: f32) -> f32 {
    (v.clamp(0.0, 255.0) + 0.5) as u8 as f32
}

/// Filter taps of one output coordinate: `weights[start..start+len]` apply to source
/// coordinates `first..first+len`.
#[derive(Clone, Debug, Default)]
struct Taps {
    first: Vec<u32>,
    start: Vec<u32>,
    len: Vec<u32>,
    weights: Vec<f32>,
}

impl Taps {
    /// Pillow's bilinear coefficients for `in_size` → `out_size`.
    fn bilinear(in_size: usize, out_size: usize) -> Taps {
        let scale = in_size as f64 / out_size as f64;
        let filter_scale = scale.max(1.0);
        let support = filter_scale; // triangle filter support 1.0, widened when shrinking
        let mut taps = Taps::default();
        for xx in 0..out_size {
            let center = (xx as f64 + 0.5) * scale;
            let xmin = ((center - support + 0.5).floor().max(0.0)) as usize;
            let xmax = ((center + support + 0.5).floor() as usize).min(in_size);
            let start = taps.weights.len();
            let mut sum = 0.0f64;
            for x in xmin..xmax {
                let t = ((x as f64 - center + 0.5) / filter_scale).abs();
                let w = if t < 1.0 { 1.0 - t } else { 0.0 };
                taps.weights.push(w as f32);
                sum += w;
            }
            if sum > 0.0 {
                for w in &mut taps.weights[start..] {
                    *w = (*w as f64 / sum) as f32;
                }
            }
            taps.first.push(xmin as u32);
            taps.start.push(start as u32);
            taps.len.push((xmax - xmin) as u32);
        }
        taps
    }
}

/// Reusable state for turning frames into network inputs. One per worker.
#[derive(Default)]
pub struct Preprocessor {
    key: (usize, usize, usize, usize),
    horizontal: Taps,
    vertical: Taps,
    /// One vertically filtered source-width row.
    rows: Vec<f32>,
    /// That row filtered horizontally: one output row.
    line: Vec<f32>,
}

/// Channel order, normalisation and layout of the network input.
struct Norm {
    chan_order: [usize; 3],
    mean: [f32; 3],
    inv_std: [f32; 3],
    layout: Layout,
    net_w: usize,
    net_h: usize,
}

/// Where to write the network input.
pub enum InputBuffer<'a> {
    F32(&'a mut [f32]),
    I32(&'a mut [i32]),
}

impl Preprocessor {
    pub fn new() -> Self {
        Self::default()
    }

    /// Resize `rgb` (`src_w`×`src_h`, RGB24) into `out` (`net_w`×`net_h`, the model's layout,
    /// channel order and normalisation) and return where the picture landed.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        &mut self,
        rgb: &[u8],
        src_w: usize,
        src_h: usize,
        spec: &InputSpec,
        net_w: usize,
        net_h: usize,
        out: InputBuffer<'_>,
    ) -> Placement {
        let place = placement(spec.resize, src_w, src_h, net_w, net_h);
        let (cw, ch) = (place.content_w, place.content_h);
        let key = (src_w, src_h, cw, ch);
        if self.key != key {
            self.horizontal = Taps::bilinear(src_w, cw);
            self.vertical = Taps::bilinear(src_h, ch);
            self.key = key;
        }

        let chan_order: [usize; 3] = match spec.channels {
            Channels::Rgb => [0, 1, 2],
            Channels::Bgr => [2, 1, 0],
        };
        let inv_std = spec.std.map(|s| 1.0 / s);
        let norm = Norm {
            chan_order,
            mean: spec.mean,
            inv_std,
            layout: spec.layout,
            net_w,
            net_h,
        };
        match out {
            InputBuffer::F32(buf) => self.write_rows_fastest(rgb, src_w, buf, &norm, cw, ch, |v| v),
            InputBuffer::I32(buf) => {
                self.write_rows_fastest(rgb, src_w, buf, &norm, cw, ch, |v| v.round() as i32)
            }
        }
        place
    }

    /// Vertical filter first (a contiguous multiply-add over whole source rows, which the
    /// compiler vectorises), then the horizontal taps on that one row, then rounding like an
    /// 8-bit resized image (what the reference pipelines fed), normalisation and layout. Only
    /// one source-width row of floats is kept, so nothing frame-sized is allocated.
    /// [`Self::write_rows`] compiled for AVX2 when the kernels' instruction-set choice
    /// (`kernels::simd::Isa::best`, which `CENTERSCOPE_ISA` can lower) allows it: the u8 → f32
    /// widening and multiply-adds vectorise 8 wide instead of SSE2's 4.
    #[allow(clippy::too_many_arguments)]
    fn write_rows_fastest<T: Copy>(
        &mut self,
        rgb: &[u8],
        src_w: usize,
        out: &mut [T],
        n: &Norm,
        cw: usize,
        ch: usize,
        conv: impl Fn(f32) -> T,
    ) {
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::simd::Isa::best() != crate::kernels::simd::Isa::Portable {
            // SAFETY: every non-portable level implies AVX2 (`Isa::supported` checks it), and
            // `best()` only returns supported levels.
            unsafe { self.write_rows_avx2(rgb, src_w, out, n, cw, ch, conv) };
            return;
        }
        self.write_rows(rgb, src_w, out, n, cw, ch, conv)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    #[allow(clippy::too_many_arguments)]
    unsafe fn write_rows_avx2<T: Copy>(
        &mut self,
        rgb: &[u8],
        src_w: usize,
        out: &mut [T],
        n: &Norm,
        cw: usize,
        ch: usize,
        conv: impl Fn(f32) -> T,
    ) {
        self.write_rows(rgb, src_w, out, n, cw, ch, conv)
    }

    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn write_rows<T: Copy>(
        &mut self,
        rgb: &[u8],
        src_w: usize,
        out: &mut [T],
        n: &Norm,
        cw: usize,
        ch: usize,
        conv: impl Fn(f32) -> T,
    ) {
        let src_len = src_w * 3;
        let plane = n.net_w * n.net_h;
        let pad = [0, 1, 2].map(|k| conv((0.0 - n.mean[k]) * n.inv_std[k]));
        self.rows.resize(src_len, 0.0);
        self.line.resize(cw * 3, 0.0);
        for y in 0..n.net_h {
            let has_content = y < ch;
            if has_content {
                let v = &self.vertical;
                let (first, start, len) =
                    (v.first[y] as usize, v.start[y] as usize, v.len[y] as usize);
                self.rows.fill(0.0);
                for t in 0..len {
                    let w = v.weights[start + t];
                    let src = &rgb[(first + t) * src_len..][..src_len];
                    for (acc, s) in self.rows.iter_mut().zip(src) {
                        *acc += *s as f32 * w;
                    }
                }
                let h = &self.horizontal;
                for (x, px) in self.line.chunks_exact_mut(3).enumerate() {
                    let (first, start, len) =
                        (h.first[x] as usize, h.start[x] as usize, h.len[x] as usize);
                    let taps = &h.weights[start..start + len];
                    let src = &self.rows[first * 3..(first + len) * 3];
                    let mut acc = [0.0f32; 3];
                    for (w, s) in taps.iter().zip(src.chunks_exact(3)) {
                        acc[0] += s[0] * w;
                        acc[1] += s[1] * w;
                        acc[2] += s[2] * w;
                    }
                    px.copy_from_slice(&acc);
                }
            }
            let content = if has_content { cw } else { 0 };
            // Normalise each pixel once, then store it in the model's layout.
            let line = &self.line;
            let norm_px = |x: usize| -> [T; 3] {
                let px = &line[x * 3..x * 3 + 3];
                [0, 1, 2].map(|k| conv((round_u8(px[n.chan_order[k]]) - n.mean[k]) * n.inv_std[k]))
            };
            match n.layout {
                Layout::Nhwc => {
                    let row = &mut out[y * n.net_w * 3..][..n.net_w * 3];
                    let (body, rest) = row.split_at_mut(content * 3);
                    for (x, px) in body.chunks_exact_mut(3).enumerate() {
                        px.copy_from_slice(&norm_px(x));
                    }
                    for px in rest.chunks_exact_mut(3) {
                        px.copy_from_slice(&pad);
                    }
                }
                Layout::Nchw => {
                    for x in 0..n.net_w {
                        let v = if x < content { norm_px(x) } else { pad };
                        for k in 0..3 {
                            out[k * plane + y * n.net_w + x] = v[k];
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
    use crate::model::manifest::InputType;

    fn spec(resize: ResizePolicy, layout: Layout) -> InputSpec {
        InputSpec {
            name: "x".into(),
            layout,
            dtype: InputType::F32,
            channels: Channels::Rgb,
            resize,
            size: [4, 4],
            size_multiple: 0,
            mean: [0.0; 3],
            std: [1.0; 3],
        }
    }

    #[test]
    fn letterbox_places_top_left_and_maps_back() {
        let p = placement(ResizePolicy::Letterbox, 1280, 720, 512, 512);
        assert_eq!((p.content_w, p.content_h), (512, 288));
        let (x, y) = p.transform.to_source(256.0, 144.0);
        assert!((x - 640.0).abs() < 1e-3 && (y - 360.0).abs() < 1e-3);
        let p = placement(ResizePolicy::PadSquare, 300, 600, 256, 256);
        assert_eq!((p.content_w, p.content_h), (128, 256));
    }

    #[test]
    fn stretch_scales_each_axis() {
        let p = placement(ResizePolicy::Stretch, 1280, 720, 640, 352);
        assert!((p.transform.scale_x - 0.5).abs() < 1e-6);
        assert!((p.transform.scale_y - 352.0 / 720.0).abs() < 1e-6);
    }

    #[test]
    fn uniform_image_stays_uniform_and_padding_is_zero() {
        let rgb: Vec<u8> = std::iter::repeat_n([10u8, 20, 30], 8 * 4)
            .flatten()
            .collect();
        let mut pre = Preprocessor::new();
        let mut out = vec![-1.0f32; 4 * 4 * 3];
        let place = pre.run(
            &rgb,
            8,
            4,
            &spec(ResizePolicy::Letterbox, Layout::Nhwc),
            4,
            4,
            InputBuffer::F32(&mut out),
        );
        assert_eq!((place.content_w, place.content_h), (4, 2));
        for y in 0..4 {
            for x in 0..4 {
                let px = &out[(y * 4 + x) * 3..][..3];
                if y < 2 {
                    assert_eq!(px, &[10.0, 20.0, 30.0]);
                } else {
                    assert_eq!(px, &[0.0, 0.0, 0.0]);
                }
            }
        }
    }

    #[test]
    fn nchw_bgr_and_normalisation() {
        let rgb = vec![100u8, 150, 200];
        let mut s = spec(ResizePolicy::Stretch, Layout::Nchw);
        s.channels = Channels::Bgr;
        s.mean = [1.0, 2.0, 3.0];
        s.std = [2.0, 2.0, 2.0];
        let mut out = vec![0.0f32; 3];
        Preprocessor::new().run(&rgb, 1, 1, &s, 1, 1, InputBuffer::F32(&mut out));
        assert_eq!(
            out,
            vec![
                (200.0 - 1.0) / 2.0,
                (150.0 - 2.0) / 2.0,
                (100.0 - 3.0) / 2.0
            ]
        );
    }

    #[test]
    fn halving_averages_pairs() {
        // 4x1 → 2x1 with the widened triangle filter: each output averages its neighbourhood.
        let rgb: Vec<u8> = [0u8, 0, 0, 100, 100, 100, 200, 200, 200, 200, 200, 200].to_vec();
        let mut out = vec![0.0f32; 6];
        Preprocessor::new().run(
            &rgb,
            4,
            1,
            &spec(ResizePolicy::Stretch, Layout::Nhwc),
            2,
            1,
            InputBuffer::F32(&mut out),
        );
        assert!(out[0] > 20.0 && out[0] < 80.0, "{out:?}");
        assert!(out[3] > 170.0 && out[3] <= 200.0, "{out:?}");
    }

    #[test]
    fn vectorised_and_baseline_builds_agree() {
        let mut seed = 7u32;
        let rgb: Vec<u8> = (0..37 * 23 * 3)
            .map(|_| {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (seed >> 16) as u8
            })
            .collect();
        for layout in [Layout::Nchw, Layout::Nhwc] {
            let spec = spec(ResizePolicy::Letterbox, layout);
            let (net_w, net_h) = (16, 12);
            let place = placement(spec.resize, 37, 23, net_w, net_h);
            let norm = Norm {
                chan_order: [2, 1, 0],
                mean: [1.0, 2.0, 3.0],
                inv_std: [0.5, 0.25, 2.0],
                layout,
                net_w,
                net_h,
            };
            let mut pre = Preprocessor::new();
            pre.run(
                &rgb,
                37,
                23,
                &spec,
                net_w,
                net_h,
                InputBuffer::F32(&mut vec![0.0; net_w * net_h * 3]),
            );
            let mut fast = vec![0.0f32; net_w * net_h * 3];
            let mut base = vec![0.0f32; net_w * net_h * 3];
            pre.write_rows_fastest(
                &rgb,
                37,
                &mut fast,
                &norm,
                place.content_w,
                place.content_h,
                |v| v,
            );
            pre.write_rows(
                &rgb,
                37,
                &mut base,
                &norm,
                place.content_w,
                place.content_h,
                |v| v,
            );
            assert_eq!(fast, base, "{layout:?}");
        }
    }

    proptest::proptest! {
        /// Every placement fits the input, letterboxing keeps the aspect ratio (to a pixel),
        /// and the recorded transform maps network points back to the source points.
        #[test]
        fn placements_fit_and_map_back(
            src_w in 1usize..5000, src_h in 1usize..5000,
            net_w in 1usize..1500, net_h in 1usize..1500,
            fx in 0.0f32..1.0, fy in 0.0f32..1.0,
            policy in proptest::sample::select(vec![
                ResizePolicy::Stretch, ResizePolicy::Letterbox, ResizePolicy::PadSquare,
            ]),
        ) {
            let p = placement(policy, src_w, src_h, net_w, net_h);
            proptest::prop_assert!(p.content_w >= 1 && p.content_w <= net_w);
            proptest::prop_assert!(p.content_h >= 1 && p.content_h <= net_h);
            if policy == ResizePolicy::Letterbox && p.content_w > 1 && p.content_h > 1 {
                // One side fills the input; each side is off the exact scale by at most half a
                // pixel, so the cross products differ by at most half of each source side.
                proptest::prop_assert!(p.content_w == net_w || p.content_h == net_h);
                let skew = (p.content_w as f64 * src_h as f64 - p.content_h as f64 * src_w as f64).abs();
                proptest::prop_assert!(skew <= 0.5 * (src_w + src_h) as f64 + 1e-6);
            }
            let (x, y) = (fx * src_w as f32, fy * src_h as f32);
            let t = p.transform;
            let (bx, by) = t.to_source(x * t.scale_x + t.pad_x, y * t.scale_y + t.pad_y);
            proptest::prop_assert!((bx - x).abs() <= 1e-3 * src_w as f32);
            proptest::prop_assert!((by - y).abs() <= 1e-3 * src_h as f32);
        }
    }
}
