//! A software renderer for the egui_kittest snapshots: egui's tessellated meshes rasterised on
//! the CPU (barycentric triangles, top-left fill rule, bilinear or nearest texture sampling,
//! premultiplied alpha blended in gamma space like egui's own renderers).
//!
//! It replaces egui_kittest's wgpu renderer, so the snapshot tests need no GPU driver (before:
//! Mesa lavapipe) and the test build does not compile wgpu, naga and their Vulkan bindings
//! (~140 CPU-seconds of every CI run).

use egui::epaint::{ClippedPrimitive, Color32, ImageData, ImageDelta, Primitive, TextureId};
use egui::TextureFilter;
use std::collections::HashMap;

#[derive(Default)]
pub struct CpuRenderer {
    textures: HashMap<TextureId, Texture>,
}

struct Texture {
    size: [usize; 2],
    pixels: Vec<Color32>,
    linear: bool,
}

impl Texture {
    /// Premultiplied RGBA in 0..=1 at texel (x, y), clamped to the edge.
    fn texel(&self, x: isize, y: isize) -> [f32; 4] {
        let [w, h] = self.size;
        if w == 0 || h == 0 {
            return [0.0; 4];
        }
        let x = x.clamp(0, w as isize - 1) as usize;
        let y = y.clamp(0, h as isize - 1) as usize;
        let c = self.pixels[y * w + x];
        [c.r(), c.g(), c.b(), c.a()].map(|v| v as f32 / 255.0)
    }

    /// Sample at texture coordinates `uv` (0..1).
    fn sample(&self, u: f32, v: f32) -> [f32; 4] {
        let [w, h] = self.size;
        let (x, y) = (u * w as f32, v * h as f32);
        if !self.linear {
            return self.texel(x.floor() as isize, y.floor() as isize);
        }
        let (x, y) = (x - 0.5, y - 0.5);
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as isize, y0 as isize);
        let t = [
            self.texel(x0, y0),
            self.texel(x0 + 1, y0),
            self.texel(x0, y0 + 1),
            self.texel(x0 + 1, y0 + 1),
        ];
        std::array::from_fn(|i| {
            let top = t[0][i] + (t[1][i] - t[0][i]) * fx;
            let bottom = t[2][i] + (t[3][i] - t[2][i]) * fx;
            top + (bottom - top) * fy
        })
    }
}

impl CpuRenderer {
    fn set(&mut self, id: TextureId, delta: &ImageDelta) {
        let ImageData::Color(image) = &delta.image;
        let linear = delta.options.magnification == TextureFilter::Linear;
        match delta.pos {
            None => {
                self.textures.insert(
                    id,
                    Texture {
                        size: image.size,
                        pixels: image.pixels.clone(),
                        linear,
                    },
                );
            }
            Some([px, py]) => {
                let Some(t) = self.textures.get_mut(&id) else {
                    return;
                };
                let [w, h] = image.size;
                for y in 0..h {
                    for x in 0..w {
                        let (tx, ty) = (px + x, py + y);
                        if tx < t.size[0] && ty < t.size[1] {
                            t.pixels[ty * t.size[0] + tx] = image.pixels[y * w + x];
                        }
                    }
                }
            }
        }
    }
}

impl egui_kittest::TestRenderer for CpuRenderer {
    fn handle_delta(&mut self, delta: &mut egui::TexturesDelta) {
        for (id, deltas) in &delta.set {
            for d in deltas {
                self.set(*id, d);
            }
        }
        for id in &delta.free {
            self.textures.remove(id);
        }
    }

    fn render(
        &mut self,
        ctx: &egui::Context,
        output: &egui::FullOutput,
    ) -> Result<image::RgbaImage, String> {
        let ppp = ctx.pixels_per_point();
        let size = ctx.content_rect().size() * ppp;
        let (w, h) = (size.x.round() as usize, size.y.round() as usize);
        let mut canvas = Canvas {
            w,
            h,
            px: vec![[0.0; 4]; w * h],
        };
        for ClippedPrimitive {
            clip_rect,
            primitive,
        } in ctx.tessellate(output.shapes.clone(), ppp)
        {
            // Paint callbacks (custom GPU drawing) have nothing to draw here.
            let Primitive::Mesh(mesh) = primitive else {
                continue;
            };
            let Some(tex) = self.textures.get(&mesh.texture_id) else {
                continue;
            };
            let clip = [
                (clip_rect.min.x * ppp).round().max(0.0) as usize,
                (clip_rect.min.y * ppp).round().max(0.0) as usize,
                ((clip_rect.max.x * ppp).round().max(0.0) as usize).min(w),
                ((clip_rect.max.y * ppp).round().max(0.0) as usize).min(h),
            ];
            for tri in mesh.indices.chunks_exact(3) {
                let v = [0, 1, 2].map(|k| &mesh.vertices[tri[k] as usize]);
                canvas.triangle(v, ppp, clip, tex);
            }
        }
        let bytes: Vec<u8> = canvas
            .px
            .iter()
            .flat_map(|p| p.map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8))
            .collect();
        image::RgbaImage::from_raw(w as u32, h as u32, bytes)
            .ok_or_else(|| "canvas size mismatch".to_string())
    }
}

struct Canvas {
    w: usize,
    h: usize,
    /// Premultiplied RGBA, 0..=1.
    px: Vec<[f32; 4]>,
}

impl Canvas {
    fn triangle(
        &mut self,
        v: [&egui::epaint::Vertex; 3],
        ppp: f32,
        clip: [usize; 4],
        tex: &Texture,
    ) {
        let p = v.map(|v| [v.pos.x as f64 * ppp as f64, v.pos.y as f64 * ppp as f64]);
        let (a, mut b, mut c) = (0, 1, 2);
        let cross = |o: [f64; 2], s: [f64; 2], t: [f64; 2]| {
            (s[0] - o[0]) * (t[1] - o[1]) - (s[1] - o[1]) * (t[0] - o[0])
        };
        let mut area = cross(p[a], p[b], p[c]);
        if area == 0.0 {
            return;
        }
        if area < 0.0 {
            std::mem::swap(&mut b, &mut c);
            area = -area;
        }
        // Of two triangles sharing an edge exactly one owns the pixels on it (no seams where
        // translucent triangles meet).
        let owns = |s: [f64; 2], t: [f64; 2]| {
            let (dx, dy) = (t[0] - s[0], t[1] - s[1]);
            dy < 0.0 || (dy == 0.0 && dx > 0.0)
        };
        let edges = [(b, c, a), (c, a, b), (a, b, c)];
        // The pixels of the triangle's bounding box inside the clip rectangle.
        let lo = |k: usize| p.iter().map(|q| q[k]).fold(f64::INFINITY, f64::min);
        let hi = |k: usize| p.iter().map(|q| q[k]).fold(f64::NEG_INFINITY, f64::max);
        let px = |v: f64| v.max(0.0) as usize;
        let (x0, y0) = (
            px(lo(0).floor()).max(clip[0]),
            px(lo(1).floor()).max(clip[1]),
        );
        let x1 = px(hi(0).ceil()).min(clip[2]).min(self.w);
        let y1 = px(hi(1).ceil()).min(clip[3]).min(self.h);
        for y in y0..y1 {
            for x in x0..x1 {
                let q = [x as f64 + 0.5, y as f64 + 0.5];
                // Weight of the vertex opposite each edge.
                let mut wts = [0f64; 3];
                let mut inside = true;
                for &(s, t, opposite) in &edges {
                    let e = cross(p[s], p[t], q);
                    if e < 0.0 || (e == 0.0 && !owns(p[s], p[t])) {
                        inside = false;
                        break;
                    }
                    wts[opposite] = e / area;
                }
                if !inside {
                    continue;
                }
                let lerp = |f: &dyn Fn(&egui::epaint::Vertex) -> f32| -> f32 {
                    (0..3).map(|i| wts[i] * f(v[i]) as f64).sum::<f64>() as f32
                };
                let (u, w) = (lerp(&|v| v.uv.x), lerp(&|v| v.uv.y));
                let t = tex.sample(u, w);
                let src: [f32; 4] = std::array::from_fn(|i| {
                    let ch = |v: &egui::epaint::Vertex| v.color.to_array()[i] as f32 / 255.0;
                    lerp(&ch) * t[i]
                });
                let d = &mut self.px[y * self.w + x];
                let keep = 1.0 - src[3];
                for i in 0..4 {
                    d[i] = src[i] + d[i] * keep;
                }
            }
        }
    }
}
