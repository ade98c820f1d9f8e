//! Dense 3×3 stride-1 convolutions by Winograd's minimal filtering, F(4×4, 3×3) (Lavin & Gray,
//! "Fast Algorithms for Convolutional Neural Networks", 2016).
//!
//! Why: the CenterNet heads (3×3, 64 → 64…256 channels at stride 4) and DLA-34's trunk are
//! dense 3×3 convolutions, and [`SpatialConv`](super::spatial::SpatialConv) already runs them
//! at ~100 % of our 1×1 micro-kernel's speed (the machine's FMA ceiling): a direct convolution
//! cannot go faster. Winograd computes each 4×4 output tile from a 6×6 input tile with 36
//! multiply-adds per input/output channel pair instead of 144 — a quarter of the products —
//! at the price of small transforms before and after and slightly different rounding (errors
//! ~1e-6 relative to the output scale, far below what a detector's threshold sees).
//!
//! How: tiles are taken a band of tile rows at a time, so a band's transformed input stays in
//! L2 while every output channel block reads it.
//! 1. Input transform `V = Bᵀ d B` of every 6×6 tile of every input channel, 16 tiles of a tile
//!    row at a time (one vector lane per tile): the band's input rows are first copied into a
//!    zero-padded buffer split by column phase (`x mod 4`), where the six columns of 16
//!    consecutive tiles are six contiguous 16-float loads.
//! 2. For each of the 36 positions ξ of a tile, one matrix product `M_ξ = U_ξ · V_ξ`
//!    (`cout × cin` by `cin × tiles`) on our 1×1 micro-kernel, `U = G g Gᵀ` transformed and
//!    packed once when the model is loaded.
//! 3. Output transform `Y = Aᵀ M A`, bias and activation, stored into the NCHW output.
//!
//! The transforms are written once over 16-float arrays and compiled per instruction set
//! (`#[target_feature]` instantiations; see `simd`), so every lane of every instantiation
//! computes the same thing: results differ between ISAs only through the matrix product's
//! FMA use, and not at all between thread counts (threads take whole tile rows).

use super::activation::Activation;
use super::pointwise::{gemm_serial, pack, tile};
use super::simd::Isa;
use std::sync::Arc;
use tract_onnx::tract_core::internal::*;

/// Tiles per vector of the transforms.
const L: usize = 16;
type Lanes = [f32; L];

/// Floats of transformed input per band (384 KiB: it stays in L2 while every output block of
/// the band reads it), unless the band needs more for [`MIN_BAND_TILES`].
const BAND_FLOATS: usize = 96 * 1024;

/// Tiles per band at least: each transformed weight is read once per band and serves this
/// many tiles (fewer, and the products wait on the weights).
const MIN_BAND_TILES: usize = 64;

/// Floats of products (`M`, 36 per tile and output channel) per output channel block.
const BLOCK_FLOATS: usize = 128 * 1024;

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Per-thread buffers: the phase-split input rows of one channel, the transformed input of a
/// band and the products of one output block.
#[derive(Default)]
struct Scratch {
    phases: Vec<f32>,
    v: Vec<f32>,
    m: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WinogradConv {
    pub cin: usize,
    pub cout: usize,
    /// `[top, left]`
    pub pad: [usize; 2],
    pub in_hw: [usize; 2],
    pub out_hw: [usize; 2],
    pub bias: Arc<Vec<f32>>,
    pub act: Activation,
    pub isa: Isa,
    /// `U_ξ` for ξ = 0..36, each `[cout][cin]` packed by [`pack`], one after the other.
    packed: Arc<Vec<f32>>,
    zeros: Arc<Vec<f32>>,
}

/// `G` of F(4×4, 3×3): `U = G g Gᵀ`.
const G: [[f64; 3]; 6] = [
    [1.0 / 4.0, 0.0, 0.0],
    [-1.0 / 6.0, -1.0 / 6.0, -1.0 / 6.0],
    [-1.0 / 6.0, 1.0 / 6.0, -1.0 / 6.0],
    [1.0 / 24.0, 1.0 / 12.0, 1.0 / 6.0],
    [1.0 / 24.0, -1.0 / 12.0, 1.0 / 6.0],
    [0.0, 0.0, 1.0],
];

impl WinogradConv {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        isa: Isa,
        cin: usize,
        cout: usize,
        pad: [usize; 2],
        in_hw: [usize; 2],
        out_hw: [usize; 2],
        weights: &[f32],
        bias: Arc<Vec<f32>>,
        act: Activation,
    ) -> WinogradConv {
        assert_eq!(weights.len(), cout * cin * 9);
        assert_eq!(bias.len(), cout);
        // U[ξ][o][i], computed in f64 from the 3×3 kernels.
        let mut u = vec![0f32; 36 * cout * cin];
        for o in 0..cout {
            for i in 0..cin {
                let g = &weights[(o * cin + i) * 9..][..9];
                let mut gg = [[0f64; 3]; 6];
                for (a, row) in gg.iter_mut().enumerate() {
                    for (c, v) in row.iter_mut().enumerate() {
                        *v = (0..3).map(|k| G[a][k] * g[k * 3 + c] as f64).sum();
                    }
                }
                for a in 0..6 {
                    for b in 0..6 {
                        let v: f64 = (0..3).map(|c| gg[a][c] * G[b][c]).sum();
                        u[((a * 6 + b) * cout + o) * cin + i] = v as f32;
                    }
                }
            }
        }
        let mut packed = Vec::new();
        for xi in 0..36 {
            packed.extend(pack(isa, cin, cout, &u[xi * cout * cin..][..cout * cin]));
        }
        WinogradConv {
            cin,
            cout,
            pad,
            in_hw,
            out_hw,
            bias,
            act,
            isa,
            packed: Arc::new(packed),
            zeros: Arc::new(vec![0.0; cout]),
        }
    }

    /// Whether Winograd beats the direct convolution. Measured (docs/benchmarks.md): 0.34–0.86
    /// of the direct time from 16 → 16 channels at 512² to 512 → 512 at 16², but 1.2× at
    /// 8 → 8 channels, where the transforms cost as much as the products they save.
    pub fn worth_it(cin: usize, cout: usize, out_hw: [usize; 2]) -> bool {
        cin >= 16 && cout >= 16 && out_hw[0] >= 8 && out_hw[1] >= 8
    }

    fn geometry(&self) -> Geometry {
        let [oh, ow] = self.out_hw;
        let (th, tw) = (oh.div_ceil(4), ow.div_ceil(4));
        let by_budget = BAND_FLOATS / (36 * self.cin * tw);
        let band_rows = by_budget.max(MIN_BAND_TILES.div_ceil(tw)).clamp(1, th);
        Geometry { th, tw, band_rows }
    }

    pub fn run(&self, input: &[f32], output: &mut [f32]) {
        let [h, w] = self.in_hw;
        let [oh, ow] = self.out_hw;
        assert_eq!(input.len(), self.cin * h * w);
        assert_eq!(output.len(), self.cout * oh * ow);
        let geo = self.geometry();
        let out = super::pointwise::Dst::new(output);
        let rows = |r0: usize, r1: usize| {
            SCRATCH.with_borrow_mut(|sc| {
                let mut b0 = r0;
                while b0 < r1 {
                    let b1 = (b0 + geo.band_rows).min(r1);
                    self.band(&geo, input, out, b0, b1, sc);
                    b0 = b1;
                }
            })
        };
        let macs = self.cin * 9 * self.cout * oh * ow;
        let threads = super::parallelism().min(geo.th);
        if threads <= 1 || macs < super::PARALLEL_MIN_MACS {
            return rows(0, geo.th);
        }
        let per = geo.th.div_ceil(threads);
        let starts: Vec<usize> = (0..geo.th).step_by(per).collect();
        super::run_parts(starts, |r0| rows(r0, (r0 + per).min(geo.th)));
    }

    /// Tile rows `[r0, r1)`: output rows `4·r0 .. 4·r1` of every channel.
    fn band(
        &self,
        geo: &Geometry,
        input: &[f32],
        out: super::pointwise::Dst,
        r0: usize,
        r1: usize,
        sc: &mut Scratch,
    ) {
        let (cin, cout) = (self.cin, self.cout);
        // Tiles in row-major order over the band, padded to whole micro-kernel tiles (the
        // padding tiles are transformed zeros and never stored).
        let tiles = (r1 - r0) * geo.tw;
        let nt = tiles.next_multiple_of(2 * L);
        let (mr, _) = tile(self.isa);
        let block = (BLOCK_FLOATS / (36 * nt) / mr).max(1) * mr;
        let block = block.min(cout);
        sc.v.resize(36 * cin * nt, 0.0);
        sc.m.resize(36 * block * nt, 0.0);
        let pw = geo.tw + 1;
        sc.phases.resize((4 * (r1 - r0) + 2) * 4 * pw, 0.0);
        for i in 0..cin {
            self.stage(
                geo,
                &input[i * self.in_hw[0] * self.in_hw[1]..],
                r0,
                r1,
                &mut sc.phases,
            );
            let job = InputJob {
                phases: &sc.phases,
                pw,
                tw: geo.tw,
                tiles,
                nt,
                i,
                cin,
            };
            transform_input(self.isa, &job, &mut sc.v);
        }
        let offs: Vec<usize> = (0..cin).map(|i| i * nt).collect();
        let per_xi = cout.div_ceil(mr) * cin * mr;
        let mut o0 = 0;
        while o0 < cout {
            let n = block.min(cout - o0);
            for xi in 0..36 {
                let job = super::pointwise::Job {
                    cin,
                    cout: n,
                    pixels: nt,
                    x: &sc.v[xi * cin * nt..][..cin * nt],
                    offs: &offs,
                    packed: &self.packed[xi * per_xi + (o0 / mr) * cin * mr..],
                    bias: &self.zeros[..n],
                    act: Activation::Identity,
                    residual: None,
                    ds: 36 * nt,
                    panel: false,
                };
                // `M[o][ξ][tile]`: the output transform then reads the 36 products of a
                // channel from 36 · nt consecutive floats.
                gemm_serial(
                    self.isa,
                    &job,
                    &mut sc.m[xi * nt..][..(n - 1) * 36 * nt + nt],
                );
            }
            let oj = OutputJob {
                m: &sc.m[..36 * n * nt],
                n,
                nt,
                tiles,
                tw: geo.tw,
                r0,
                o0,
                out_hw: self.out_hw,
                bias: &self.bias[o0..o0 + n],
                act: self.act,
            };
            transform_output(self.isa, &oj, out);
            o0 += n;
        }
    }

    /// Copy input rows `4·r0 - pad .. 4·r1 - pad + 2` of one channel into `phases`,
    /// `[row][x mod 4][tile column]`, zero outside the picture.
    fn stage(&self, geo: &Geometry, plane: &[f32], r0: usize, r1: usize, phases: &mut [f32]) {
        let [h, w] = self.in_hw;
        let [pt, pl] = self.pad;
        let pw = geo.tw + 1;
        let rows = 4 * (r1 - r0) + 2;
        // Tile columns j whose four phases all lie inside the row: 4j - pl >= 0, 4j + 3 - pl < w.
        let j_lo = pl.div_ceil(4).min(pw);
        let j_hi = if w + pl >= 4 {
            ((w + pl - 4) / 4 + 1).min(pw)
        } else {
            0
        };
        for yy in 0..rows {
            let dst = &mut phases[yy * 4 * pw..][..4 * pw];
            let iy = (4 * r0 + yy) as isize - pt as isize;
            if iy < 0 || iy >= h as isize {
                dst.fill(0.0);
                continue;
            }
            let row = &plane[iy as usize * w..][..w];
            let (p0, rest) = dst.split_at_mut(pw);
            let (p1, rest) = rest.split_at_mut(pw);
            let (p2, p3) = rest.split_at_mut(pw);
            let edge = |j: usize, ph: usize| -> f32 {
                let x = (4 * j + ph) as isize - pl as isize;
                if x >= 0 && (x as usize) < w {
                    row[x as usize]
                } else {
                    0.0
                }
            };
            let j_mid_hi = j_hi.max(j_lo);
            for j in (0..j_lo).chain(j_mid_hi..pw) {
                p0[j] = edge(j, 0);
                p1[j] = edge(j, 1);
                p2[j] = edge(j, 2);
                p3[j] = edge(j, 3);
            }
            let mut j_from = j_lo;
            #[cfg(target_arch = "x86_64")]
            if self.isa == Isa::Avx512 {
                while j_from + L <= j_hi {
                    let src = &row[4 * j_from - pl..][..4 * L];
                    // SAFETY: `self.isa` is only Avx512 where the CPU has it.
                    unsafe {
                        x86::deinterleave(src, [&mut *p0, &mut *p1, &mut *p2, &mut *p3], j_from)
                    };
                    j_from += L;
                }
            }
            let j_lo = j_from;
            if j_hi > j_lo {
                let src = &row[4 * j_lo - pl..][..4 * (j_hi - j_lo)];
                for (k, q) in src.chunks_exact(4).enumerate() {
                    p0[j_lo + k] = q[0];
                    p1[j_lo + k] = q[1];
                    p2[j_lo + k] = q[2];
                    p3[j_lo + k] = q[3];
                }
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Geometry {
    /// Tile rows and columns of the output.
    th: usize,
    tw: usize,
    /// Tile rows per band.
    band_rows: usize,
}

/// Where the 16 lanes of a vector of tiles come from: runs of consecutive tiles of one tile
/// row, `(lane, tile row, tile column, length)`, at most `16 / tw + 2` of them.
#[inline(always)]
fn segments(t0: usize, tiles: usize, tw: usize, f: &mut impl FnMut(usize, usize, usize, usize)) {
    let mut l = 0;
    while l < L && t0 + l < tiles {
        let t = t0 + l;
        let (r, c) = (t / tw, t % tw);
        let len = (L - l).min(tw - c).min(tiles - t);
        f(l, r, c, len);
        l += len;
    }
}

/// `Bᵀ d` along one axis of a 6×6 tile (rows of `Bᵀ`: 4,0,−5,0,1,0 / 0,−4,−4,1,1,0 /
/// 0,4,−4,−1,1,0 / 0,−2,−1,2,1,0 / 0,2,−1,−2,1,0 / 0,4,0,−5,0,1).
#[inline(always)]
fn bt(d: &[Lanes; 6]) -> [Lanes; 6] {
    let mut m = [[0f32; L]; 6];
    for l in 0..L {
        let [d0, d1, d2, d3, d4, d5] = [d[0][l], d[1][l], d[2][l], d[3][l], d[4][l], d[5][l]];
        m[0][l] = (d4 - 5.0 * d2) + 4.0 * d0;
        m[1][l] = (d3 + d4) - 4.0 * (d1 + d2);
        m[2][l] = (d4 - d3) + 4.0 * (d1 - d2);
        m[3][l] = (d4 - d2) + 2.0 * (d3 - d1);
        m[4][l] = (d4 - d2) + 2.0 * (d1 - d3);
        m[5][l] = (d5 - 5.0 * d3) + 4.0 * d1;
    }
    m
}

/// `Aᵀ m` along one axis (rows of `Aᵀ`: 1,1,1,1,1,0 / 0,1,−1,2,−2,0 / 0,1,1,4,4,0 /
/// 0,1,−1,8,−8,1).
#[inline(always)]
fn at(m: &[Lanes; 6]) -> [Lanes; 4] {
    let mut y = [[0f32; L]; 4];
    for l in 0..L {
        let (a, b) = (m[1][l] + m[2][l], m[1][l] - m[2][l]);
        let (c, e) = (m[3][l] + m[4][l], m[3][l] - m[4][l]);
        y[0][l] = (m[0][l] + a) + c;
        y[1][l] = b + 2.0 * e;
        y[2][l] = a + 4.0 * c;
        y[3][l] = (b + 8.0 * e) + m[5][l];
    }
    y
}

#[inline(always)]
fn load(s: &[f32]) -> Lanes {
    s[..L].try_into().expect("16 floats")
}

/// The input transform of one input channel over a band.
struct InputJob<'a> {
    /// Phase-split rows of the channel (see [`WinogradConv::stage`]), `4 · pw` floats each.
    phases: &'a [f32],
    pw: usize,
    tw: usize,
    /// Tiles of the band, and the same padded to whole vectors of the products.
    tiles: usize,
    nt: usize,
    i: usize,
    cin: usize,
}

/// Input transform of channel `i` for every tile of the band, from its phase-split rows
/// into `v[ξ][i][tile]`.
// Indexing columns of 6×6 tiles reads clearer than iterator chains.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn input_body(j: &InputJob, v: &mut [f32]) {
    let pw = j.pw;
    for t0 in (0..j.nt).step_by(L) {
        let mut t = [[[0f32; L]; 6]; 6];
        let (r, c0) = (t0 / j.tw, t0 % j.tw);
        if c0 + L <= j.tw && t0 + L <= j.tiles {
            // 16 tiles of one tile row: six contiguous loads per input row.
            for (y, ty) in t.iter_mut().enumerate() {
                let row = &j.phases[(4 * r + y) * 4 * pw..][..4 * pw];
                let d: [Lanes; 6] =
                    std::array::from_fn(|x| load(&row[(x % 4) * pw + c0 + x / 4..]));
                *ty = bt(&d);
            }
        } else {
            // Tiles from several tile rows (narrow maps) or past the end (zeros).
            let mut d = [[[0f32; L]; 6]; 6];
            segments(t0, j.tiles, j.tw, &mut |l, r, c, len| {
                for (y, dy) in d.iter_mut().enumerate() {
                    let row = &j.phases[(4 * r + y) * 4 * pw..][..4 * pw];
                    for (x, dx) in dy.iter_mut().enumerate() {
                        dx[l..l + len].copy_from_slice(&row[(x % 4) * pw + c + x / 4..][..len]);
                    }
                }
            });
            for (ty, dy) in t.iter_mut().zip(&d) {
                *ty = bt(dy);
            }
        }
        for m in 0..6 {
            let col: [Lanes; 6] = std::array::from_fn(|y| t[y][m]);
            let vk = bt(&col);
            for (k, vv) in vk.iter().enumerate() {
                let at = ((k * 6 + m) * j.cin + j.i) * j.nt + t0;
                v[at..at + L].copy_from_slice(vv);
            }
        }
    }
}

fn transform_input(isa: Isa, j: &InputJob, v: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512(j: &InputJob, v: &mut [f32]) {
            input_body(j, v)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(j: &InputJob, v: &mut [f32]) {
            input_body(j, v)
        }
        match isa {
            // SAFETY: ops are built for `Isa::best()` or, in tests, for a supported level.
            Isa::Avx512 => return unsafe { avx512(j, v) },
            // SAFETY: as above.
            Isa::Avx2Fma => return unsafe { avx2(j, v) },
            Isa::Portable => {}
        }
    }
    input_body(j, v)
}

/// The output transform of one block of output channels over a band.
struct OutputJob<'a> {
    /// `[n][ξ][nt]`
    m: &'a [f32],
    n: usize,
    nt: usize,
    tiles: usize,
    tw: usize,
    /// First tile row of the band.
    r0: usize,
    o0: usize,
    out_hw: [usize; 2],
    bias: &'a [f32],
    act: Activation,
}

/// # Safety (of the writes through `out`)
/// The band's output rows of channels `o0 .. o0 + n` are written by this call only.
#[allow(clippy::needless_range_loop)]
#[inline(always)]
fn output_body<const X512: bool>(j: &OutputJob, out: super::pointwise::Dst) {
    let [oh, ow] = j.out_hw;
    for o in 0..j.n {
        let bias = j.bias[o];
        for t0 in (0..j.tiles).step_by(L) {
            let s: [Lanes; 36] = std::array::from_fn(|xi| load(&j.m[(o * 36 + xi) * j.nt + t0..]));
            let mut q = [[[0f32; L]; 4]; 6];
            for (k, qk) in q.iter_mut().enumerate() {
                let row: [Lanes; 6] = std::array::from_fn(|m| s[k * 6 + m]);
                *qk = at(&row);
            }
            for xx in 0..4 {
                let col: [Lanes; 6] = std::array::from_fn(|k| q[k][xx]);
                let y = at(&col);
                q[0][xx] = y[0];
                q[1][xx] = y[1];
                q[2][xx] = y[2];
                q[3][xx] = y[3];
            }
            let (r, c0) = (t0 / j.tw, t0 % j.tw);
            // The 16 tiles lie in one tile row, whole: four vector stores per output row.
            let whole = c0 + L <= j.tw && t0 + L <= j.tiles && 4 * (c0 + L) <= ow;
            for (yy, qy) in q.iter().take(4).enumerate() {
                #[cfg(target_arch = "x86_64")]
                if X512 && whole {
                    let oy = 4 * (j.r0 + r) + yy;
                    if oy < oh {
                        // SAFETY: see the function's contract; the AVX-512 instantiation runs
                        // only where the CPU has it.
                        unsafe {
                            let dst = out.slice(((j.o0 + o) * oh + oy) * ow + 4 * c0, 4 * L);
                            x86::store_interleaved(qy, bias, j.act, dst);
                        }
                    }
                    continue;
                }
                let mut buf = [0f32; 4 * L];
                for l in 0..L {
                    for xx in 0..4 {
                        buf[4 * l + xx] = qy[xx][l] + bias;
                    }
                }
                j.act.apply_slice(&mut buf);
                segments(t0, j.tiles, j.tw, &mut |l, r, c, len| {
                    let oy = 4 * (j.r0 + r) + yy;
                    if oy >= oh {
                        return;
                    }
                    let x0 = 4 * c;
                    let width = (4 * len).min(ow - x0);
                    // SAFETY: see the function's contract.
                    let dst = unsafe { out.slice(((j.o0 + o) * oh + oy) * ow + x0, width) };
                    dst.copy_from_slice(&buf[4 * l..][..width]);
                });
            }
        }
    }
}

fn transform_output(isa: Isa, j: &OutputJob, out: super::pointwise::Dst) {
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx512f")]
        unsafe fn avx512(j: &OutputJob, out: super::pointwise::Dst) {
            output_body::<true>(j, out)
        }
        #[target_feature(enable = "avx2,fma")]
        unsafe fn avx2(j: &OutputJob, out: super::pointwise::Dst) {
            output_body::<false>(j, out)
        }
        match isa {
            // SAFETY: ops are built for `Isa::best()` or, in tests, for a supported level.
            Isa::Avx512 => return unsafe { avx512(j, out) },
            // SAFETY: as above.
            Isa::Avx2Fma => return unsafe { avx2(j, out) },
            Isa::Portable => {}
        }
    }
    output_body::<false>(j, out)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Activation, Lanes};
    use std::arch::x86_64::*;

    /// A 4×4 transpose of (vector, element) inside every 128-bit lane: element `i` of lane `k`
    /// of result `j` is element `j` of lane `k` of input `i`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn transpose_in_lanes(v: [__m512; 4]) -> [__m512; 4] {
        let t0 = _mm512_unpacklo_ps(v[0], v[1]);
        let t1 = _mm512_unpacklo_ps(v[2], v[3]);
        let t2 = _mm512_unpackhi_ps(v[0], v[1]);
        let t3 = _mm512_unpackhi_ps(v[2], v[3]);
        let pd = _mm512_castps_pd;
        let ps = _mm512_castpd_ps;
        [
            ps(_mm512_unpacklo_pd(pd(t0), pd(t1))),
            ps(_mm512_unpackhi_pd(pd(t0), pd(t1))),
            ps(_mm512_unpacklo_pd(pd(t2), pd(t3))),
            ps(_mm512_unpackhi_pd(pd(t2), pd(t3))),
        ]
    }

    /// A 4×4 transpose of (vector, 128-bit lane): lane `m` of result `j` is lane `j` of input
    /// `m`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn transpose_lanes(x: [__m512; 4]) -> [__m512; 4] {
        let y0 = _mm512_shuffle_f32x4::<0x44>(x[0], x[1]);
        let y1 = _mm512_shuffle_f32x4::<0x44>(x[2], x[3]);
        let y2 = _mm512_shuffle_f32x4::<0xEE>(x[0], x[1]);
        let y3 = _mm512_shuffle_f32x4::<0xEE>(x[2], x[3]);
        [
            _mm512_shuffle_f32x4::<0x88>(y0, y1),
            _mm512_shuffle_f32x4::<0xDD>(y0, y1),
            _mm512_shuffle_f32x4::<0x88>(y2, y3),
            _mm512_shuffle_f32x4::<0xDD>(y2, y3),
        ]
    }

    /// Store `q[xx][tile] + bias` (then `act`) as 64 consecutive floats `[tile][xx]`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn store_interleaved(
        q: &[Lanes; 4],
        bias: f32,
        act: Activation,
        dst: &mut [f32],
    ) {
        assert!(dst.len() >= 64);
        let b = _mm512_set1_ps(bias);
        let v: [__m512; 4] =
            std::array::from_fn(|xx| _mm512_add_ps(_mm512_loadu_ps(q[xx].as_ptr()), b));
        let o = transpose_lanes(transpose_in_lanes(v));
        for (k, ok) in o.into_iter().enumerate() {
            let ok = super::super::pointwise::x86::act512(ok, act);
            _mm512_storeu_ps(dst.as_mut_ptr().add(16 * k), ok);
        }
    }

    /// Split 64 consecutive floats `[tile][phase]` (16 tiles of 4) into four 16-float rows
    /// by phase.
    #[inline]
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn deinterleave(src: &[f32], p: [&mut [f32]; 4], at: usize) {
        assert!(src.len() >= 64 && p.iter().all(|r| r.len() >= at + 16));
        let v: [__m512; 4] = std::array::from_fn(|k| _mm512_loadu_ps(src.as_ptr().add(16 * k)));
        let o = transpose_in_lanes(transpose_lanes(v));
        for (row, ok) in p.into_iter().zip(o) {
            _mm512_storeu_ps(row.as_mut_ptr().add(at), ok);
        }
    }
}

// Packed weights are derived from the model's; equal geometry and weights, equal ops.
impl Eq for WinogradConv {}

impl Op for WinogradConv {
    fn name(&self) -> StaticName {
        "WinogradConv3x3".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} -> {} channels, {:?} -> {:?} {} ({})",
            self.cin,
            self.cout,
            self.in_hw,
            self.out_hw,
            self.act.name(),
            self.isa.name()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for WinogradConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [oh, ow] = self.out_hw;
        super::eval_unary(&inputs, &[1, self.cout, oh, ow], |x, o| self.run(x, o))
    }
}

impl TypedOp for WinogradConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [h, w] = self.in_hw;
        ensure!(
            inputs.len() == 1 && inputs[0].shape.as_concrete() == Some(&[1, self.cin, h, w]),
            "WinogradConv: input does not match"
        );
        let [oh, ow] = self.out_hw;
        Ok(tvec!(f32::fact([1, self.cout, oh, ow])))
    }
}

#[cfg(test)]
mod tests {
    use super::super::rand_vec;
    use super::super::spatial::tests::direct;
    use super::*;

    #[test]
    fn every_isa_matches_a_direct_convolution() {
        let mut seed = 17u64;
        let mut cases = 0;
        for (cin, cout) in [(1usize, 1usize), (5, 7), (24, 50), (64, 13)] {
            for (h, w) in [(1usize, 1usize), (4, 4), (7, 9), (13, 70), (33, 17)] {
                for (pad, after) in [([1, 1], 1), ([0, 0], 0), ([2, 1], 0), ([1, 0], 2)] {
                    let (ph, pw) = (h + pad[0] + after, w + pad[1] + after);
                    if ph < 3 || pw < 3 {
                        continue;
                    }
                    let (oh, ow) = (ph - 2, pw - 2);
                    let wt = rand_vec(cout * cin * 9, &mut seed);
                    let b = Arc::new(rand_vec(cout, &mut seed));
                    let x = rand_vec(cin * h * w, &mut seed);
                    let act =
                        [Activation::Relu, Activation::Identity, Activation::Relu6][cases % 3];
                    let want = direct(&x, &wt, &b, [cin, cout, 3, 1], [h, w], pad, [oh, ow], act);
                    // The scale of the sums, for a tolerance relative to it.
                    let scale = (cin as f32 * 9.0).sqrt();
                    for isa in Isa::all_supported() {
                        let op = WinogradConv::new(
                            isa,
                            cin,
                            cout,
                            pad,
                            [h, w],
                            [oh, ow],
                            &wt,
                            b.clone(),
                            act,
                        );
                        let mut got = vec![f32::NAN; want.len()];
                        // Stale scratch as NaN: anything read before it is written shows.
                        SCRATCH.with_borrow_mut(|sc| {
                            for b in [&mut sc.phases, &mut sc.v, &mut sc.m] {
                                b.fill(f32::NAN);
                            }
                        });
                        op.run(&x, &mut got);
                        for (j, (g, r)) in got.iter().zip(&want).enumerate() {
                            assert!(
                                (g - r).abs() <= 2e-5 * scale * (1.0 + r.abs()),
                                "{isa:?} {cin}->{cout} {h}x{w} {pad:?}+{after} [{j}]: {g} vs {r}"
                            );
                        }
                    }
                    cases += 1;
                }
            }
        }
        assert!(cases > 50, "only {cases} cases");
    }

    #[test]
    fn threads_split_the_rows_without_changing_a_bit() {
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        let mut seed = 23u64;
        // Several bands per thread (a small band budget per channel count), odd sizes.
        for (cin, cout, hw) in [(24usize, 40usize, [67usize, 45usize]), (96, 16, [50, 129])] {
            let (pad, out_hw) = ([1, 1], hw);
            let wt = rand_vec(cout * cin * 9, &mut seed);
            let b = Arc::new(rand_vec(cout, &mut seed));
            let x = rand_vec(cin * hw[0] * hw[1], &mut seed);
            for isa in Isa::all_supported() {
                let op = WinogradConv::new(
                    isa,
                    cin,
                    cout,
                    pad,
                    hw,
                    out_hw,
                    &wt,
                    b.clone(),
                    Activation::Relu,
                );
                assert!(op.cin * 9 * op.cout * hw[0] * hw[1] >= crate::kernels::PARALLEL_MIN_MACS);
                let n = cout * out_hw[0] * out_hw[1];
                let mut one = vec![f32::NAN; n];
                op.run(&x, &mut one);
                for threads in [2, 3] {
                    let mut many = vec![f32::NAN; n];
                    multithread_tract_scope(Executor::multithread(threads), || {
                        op.run(&x, &mut many)
                    });
                    assert!(
                        one.iter()
                            .zip(&many)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{isa:?} {cin}->{cout} {threads} threads"
                    );
                }
            }
        }
    }
}
