//! Pointwise (1×1) convolution, NCHW, with bias, activation and an optional residual input
//! fused: MobileNet's expansion and projection layers, most of the network's arithmetic.
//!
//! In NCHW a 1×1 convolution is `out[o][p] = bias[o] + Σ_i w[o][i] · x[i][p]`. The input
//! needs no packing: for a tile of `NR` consecutive pixels, row `i` of the tile is contiguous
//! in memory. The weights are packed once, when the op is built, in blocks of `MR` output
//! channels (`[block][i][MR]`), so the micro-kernel walks both operands sequentially while
//! keeping an `MR × NR` block of outputs in registers: per input channel, `NR / V` vector
//! loads, `MR` broadcasts, and `MR · NR / V` FMAs. Pixel tiles run outermost so the input tile
//! stays in L1/L2 while every output block consumes it.

use super::activation::Activation;
use super::simd::{madd, Isa, PORTABLE_FMA};
use std::sync::Arc;
use tract_onnx::tract_core::internal::*;

/// One 1×1 convolution with its packed weights (`[cout][cin]` from the model, packed by
/// [`pack`] when the plan is built).
#[derive(Debug, Clone, PartialEq)]
pub struct PointwiseConv {
    pub cin: usize,
    pub cout: usize,
    pub hw: [usize; 2],
    pub bias: Arc<Vec<f32>>,
    pub act: Activation,
    /// A second input added after the activation (`out = act(conv) + residual`).
    pub residual: bool,
    /// The instruction set the packing was made for.
    pub isa: Isa,
    pub(crate) packed: Arc<Vec<f32>>,
}

/// Micro-kernel shape `(MR, NR)` of each instruction set.
pub(crate) fn tile(isa: Isa) -> (usize, usize) {
    match isa {
        Isa::Avx512 => (12, 32),
        Isa::Avx2Fma => (6, 16),
        Isa::Portable => (4, 8),
    }
}

impl PointwiseConv {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        isa: Isa,
        cin: usize,
        cout: usize,
        hw: [usize; 2],
        weights: &[f32],
        bias: Arc<Vec<f32>>,
        act: Activation,
        residual: bool,
    ) -> PointwiseConv {
        let packed = pack(isa, cin, cout, weights);
        PointwiseConv {
            cin,
            cout,
            hw,
            bias,
            act,
            residual,
            isa,
            packed: Arc::new(packed),
        }
    }

    /// `output = act(conv(input)) (+ residual)`, all `[channels][h * w]`.
    pub fn run(&self, input: &[f32], residual: Option<&[f32]>, output: &mut [f32]) {
        let p = self.hw[0] * self.hw[1];
        assert_eq!(input.len(), self.cin * p);
        assert_eq!(output.len(), self.cout * p);
        assert_eq!(residual.is_some(), self.residual);
        if let Some(r) = residual {
            assert_eq!(r.len(), output.len());
        }
        let offs: Vec<usize> = (0..self.cin).map(|i| i * p).collect();
        let job = Job {
            cin: self.cin,
            cout: self.cout,
            pixels: p,
            x: input,
            offs: &offs,
            packed: &self.packed,
            bias: &self.bias,
            act: self.act,
            residual,
            ds: p,
            panel: true,
        };
        gemm(self.isa, &job, output);
    }
}

/// Weights `[cout][k]` packed for `isa`'s micro-kernel: `[cout / MR][k][MR]`, zero-padded.
pub(crate) fn pack(isa: Isa, k: usize, cout: usize, weights: &[f32]) -> Vec<f32> {
    let (mr, _) = tile(isa);
    let blocks = cout.div_ceil(mr);
    let mut packed = vec![0f32; blocks * k * mr];
    for o in 0..cout {
        let (b, r) = (o / mr, o % mr);
        for i in 0..k {
            packed[(b * k + i) * mr + r] = weights[o * k + i];
        }
    }
    packed
}

/// `out[o][p] = act(bias[o] + Σ_i w[o][i] · x[offs[i] + p]) (+ residual[o][p])` for
/// `p < pixels`: a 1×1 convolution when `offs[i] = i · pixels`, any convolution when the
/// offsets point at shifted copies of the input (see `spatial`).
pub(crate) fn gemm(isa: Isa, job: &Job, out: &mut [f32]) {
    job.check(out.len());
    let (mr, nr) = tile(isa);
    let blocks = job.cout.div_ceil(mr);
    let macs = job.cin * job.cout * job.pixels;
    let threads = super::parallelism();
    if threads <= 1 || macs < super::PARALLEL_MIN_MACS {
        return gemm_serial(isa, job, out);
    }
    // With several threads (`--matmul-threads`) the product is split one of two ways:
    // - by pixels (each part all output channels of a range of pixel tiles) when there are
    //   many pixels: every thread reads only its share of the input, and the parts are equal
    //   to a tile whatever the channel count (splitting 16 or 32 channels into 12-channel
    //   blocks gave one thread three times the work of the other);
    // - by output-channel blocks on the small late feature maps, where the weights are the
    //   bigger operand and a pixel split would have every thread read all of them.
    let tiles = job.pixels.div_ceil(nr);
    let dst = Dst::new(out);
    if tiles >= PIXEL_SPLIT_MIN_TILES * threads {
        let per = tiles.div_ceil(threads) * nr;
        let parts: Vec<usize> = (0..job.pixels).step_by(per).collect();
        super::run_parts(parts, |p0| {
            let p1 = (p0 + per).min(job.pixels);
            let sub = Job {
                x: &job.x[p0..],
                pixels: p1 - p0,
                residual: job.residual.map(|r| &r[p0..]),
                ..*job
            };
            // SAFETY: the parts write disjoint pixel ranges [p0, p1) of every output row,
            // and `out` is not touched otherwise until `run_parts` returns.
            unsafe { gemm_serial_dst(isa, &sub, dst.offset(p0)) };
        });
        return;
    }
    let parts = threads.min(blocks);
    let per = blocks.div_ceil(parts);
    let starts: Vec<usize> = (0..blocks).step_by(per).collect();
    super::run_parts(starts, |b0| {
        let b1 = (b0 + per).min(blocks);
        let (o0, o1) = (b0 * mr, (b1 * mr).min(job.cout));
        let sub = Job {
            cout: o1 - o0,
            packed: &job.packed[b0 * job.cin * mr..],
            bias: &job.bias[o0..],
            residual: job.residual.map(|r| &r[o0 * job.ds..]),
            ..*job
        };
        // SAFETY: the parts write disjoint ranges of output rows [o0, o1).
        unsafe { gemm_serial_dst(isa, &sub, dst.offset(o0 * job.ds)) };
    });
}

/// A pixel split needs at least this many micro-kernel tiles per thread.
const PIXEL_SPLIT_MIN_TILES: usize = 8;

/// The destination of a product: `cout` rows `ds` floats apart, as a pointer so that threads
/// can write disjoint pixel ranges of the same rows (see [`gemm`]).
#[derive(Clone, Copy)]
pub(crate) struct Dst<'a> {
    ptr: *mut f32,
    len: usize,
    _out: std::marker::PhantomData<&'a mut [f32]>,
}

// SAFETY: a `Dst` is only written through by `gemm_serial_dst`, whose callers guarantee that
// concurrent writers touch disjoint elements.
unsafe impl Send for Dst<'_> {}
unsafe impl Sync for Dst<'_> {}

impl<'a> Dst<'a> {
    pub(crate) fn new(out: &'a mut [f32]) -> Dst<'a> {
        Dst {
            ptr: out.as_mut_ptr(),
            len: out.len(),
            _out: std::marker::PhantomData,
        }
    }

    pub(crate) fn offset(self, at: usize) -> Dst<'a> {
        assert!(at <= self.len);
        Dst {
            // SAFETY: in bounds (checked above).
            ptr: unsafe { self.ptr.add(at) },
            len: self.len - at,
            _out: std::marker::PhantomData,
        }
    }

    /// `n` floats from `at`, as a slice.
    ///
    /// # Safety
    /// No other thread reads or writes them while the slice lives.
    pub(crate) unsafe fn slice(self, at: usize, n: usize) -> &'a mut [f32] {
        assert!(at + n <= self.len);
        std::slice::from_raw_parts_mut(self.ptr.add(at), n)
    }
}

pub(crate) fn gemm_serial(isa: Isa, job: &Job, out: &mut [f32]) {
    job.check(out.len());
    // SAFETY: `out` is borrowed mutably: nobody else writes it.
    unsafe { gemm_serial_dst(isa, job, Dst::new(out)) }
}

/// # Safety
/// Every element of `out` this product writes (rows `o · ds + [0, pixels)`) is written by no
/// other thread meanwhile.
pub(crate) unsafe fn gemm_serial_dst(isa: Isa, job: &Job, out: Dst) {
    job.check(out.len);
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: ops are built for `Isa::best()` or, in tests, for a supported level.
        Isa::Avx512 => run_avx512(job, out),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above.
        Isa::Avx2Fma => run_avx2(job, out),
        _ => run_portable(job, out),
    }
}

#[derive(Clone, Copy)]
pub(crate) struct Job<'a> {
    /// Reduction length (input channels × taps).
    pub cin: usize,
    pub cout: usize,
    pub pixels: usize,
    pub x: &'a [f32],
    /// Where reduction row `i` starts in `x`.
    pub offs: &'a [usize],
    /// From [`pack`].
    pub packed: &'a [f32],
    pub bias: &'a [f32],
    pub act: Activation,
    pub residual: Option<&'a [f32]>,
    /// Distance between output channels in `out` (and `residual`), at least `pixels`.
    pub ds: usize,
    /// Copy each chunk's input tiles into a contiguous panel when enough output blocks reuse
    /// it (see `conv`): for 1×1 convolutions, whose input rows are whole feature-map planes
    /// apart. (The shifted input rows of a K×K convolution are read in place: their product
    /// runs per output row, too short for a copy to pay.)
    pub panel: bool,
}

impl Job<'_> {
    /// The bounds the products rely on, for an output of `out_len` floats.
    fn check(&self, out_len: usize) {
        assert!(self.offs.len() == self.cin);
        assert!(self.offs.iter().all(|&o| o + self.pixels <= self.x.len()));
        assert!(self.ds >= self.pixels && out_len >= (self.cout - 1) * self.ds + self.pixels);
        if let Some(r) = self.residual {
            assert!(r.len() >= (self.cout - 1) * self.ds + self.pixels);
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn run_avx512(job: &Job, out: Dst) {
    // SAFETY (closure): avx512f is enabled on this function; `Tile::check` ran.
    conv::<12, 32>(job, out, |t, dst| unsafe { x86::tile_avx512(t, dst) });
    // Order the non-temporal stores before anything that follows.
    std::arch::x86_64::_mm_sfence();
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_avx2(job: &Job, out: Dst) {
    // SAFETY (closure): avx2 and fma are enabled on this function; `Tile::check` ran.
    conv::<6, 16>(job, out, |t, dst| unsafe { x86::tile_avx2(t, dst) })
}

/// # Safety
/// As [`gemm_serial_dst`].
unsafe fn run_portable(job: &Job, out: Dst) {
    conv::<4, 8>(job, out, |t, dst| unsafe {
        tile_portable::<4, 8, PORTABLE_FMA>(t, dst)
    })
}

/// One micro-kernel call: `rows` (≤ MR) output channels × NR pixels.
pub(crate) struct Tile<'a> {
    pub cin: usize,
    /// Input rows: row `i` of the tile is `x[offs[i] + x0 ..][..NR]`.
    pub x: &'a [f32],
    pub offs: &'a [usize],
    pub x0: usize,
    /// Packed weights of this block, `[cin][MR]`.
    pub w: &'a [f32],
    /// Bias of this block, MR values.
    pub bias: &'a [f32],
    pub rows: usize,
    pub act: Activation,
    /// Added after the activation; same layout as the destination.
    pub residual: Option<&'a [f32]>,
    /// Distance between output rows in the destination (and residual).
    pub ds: usize,
    /// Write with non-temporal stores (outputs much larger than the caches, written once
    /// and read by the next layer from memory anyway: skips reading each line before
    /// overwriting it).
    pub stream: bool,
}

impl Tile<'_> {
    /// The bounds every micro-kernel relies on (checked once per tile, outside the loops).
    /// `max_off` is the largest of `offs[..cin]` (computed once per product).
    fn check(&self, mr: usize, nr: usize, max_off: usize, dst_len: usize) {
        assert!(self.rows >= 1 && self.rows <= mr);
        assert!(self.offs.len() >= self.cin);
        debug_assert_eq!(
            self.offs[..self.cin].iter().max().copied().unwrap_or(0),
            max_off
        );
        assert!(max_off + self.x0 + nr <= self.x.len());
        assert!(self.w.len() >= self.cin * mr && self.bias.len() >= mr);
        let span = (self.rows - 1) * self.ds + nr;
        assert!(dst_len >= span);
        if let Some(r) = self.residual {
            assert!(r.len() >= span);
        }
    }
}

/// The tiling around a micro-kernel `kernel(tile, dst)`, which writes
/// `act(Σ w·x + bias) (+ residual)` for `tile.rows` rows of NR pixels into `dst`.
#[inline(always)]
///
/// # Safety
/// As [`gemm_serial_dst`]; `kernel` writes only the tile's rows × NR pixels of its `Dst`.
unsafe fn conv<const MR: usize, const NR: usize>(job: &Job, out: Dst, kernel: impl Fn(&Tile, Dst)) {
    let (cin, p) = (job.cin, job.pixels);
    let blocks = job.cout.div_ceil(MR);
    let mut edge_x = Vec::new();
    let mut edge_out = Vec::new();
    let mut edge_offs = Vec::new();
    // The last, partial pixel tile (if any) reads a zero-padded copy of its inputs.
    let tail = p % NR;
    let max_off = job.offs.iter().max().copied().unwrap_or(0);
    let edge_max_off = cin.saturating_sub(1) * NR;
    if tail != 0 {
        edge_out.resize(MR * NR, 0.0);
        edge_offs.extend((0..cin).map(|i| i * NR));
        let p0 = p - tail;
        edge_x.resize(cin * NR, 0.0);
        for i in 0..cin {
            edge_x[i * NR..][..tail].copy_from_slice(&job.x[job.offs[i] + p0..][..tail]);
        }
    }
    // Cache blocking: a chunk of pixels whose inputs fit in half the L2 cache is read by
    // every output block in turn, and each block writes its rows of the chunk sequentially
    // (writing all output channels of one tile at once scattered stores over `cout` planes
    // and ran at a third of the speed on the wide early layers).
    let ds = job.ds;
    let stream = job.cout * ds > STREAM_OVER_FLOATS;
    let chunk = ((L2_BUDGET_FLOATS / cin.max(1)) / NR).max(1) * NR;
    // The full tiles of a chunk are copied into one contiguous panel (`[tile][cin][NR]`) that
    // every output block then reads sequentially. Read in place, the `cin` rows of a tile lie
    // one feature-map plane apart: with planes of a power-of-two size (32×32 = 4 KiB, 64×64,
    // 128×128) all of them fall into the same few cache sets, and the tile that should stay
    // in L1 was refetched from L2 or beyond for every block (512 → 512 channels at 32×32 ran
    // at 44 % of the in-cache speed). Only worth its copy when several blocks reuse it.
    let use_panel = job.panel && blocks >= PANEL_MIN_BLOCKS && cin >= PANEL_MIN_CIN;
    // Reused across calls on this thread: a fresh buffer per product cost page faults on the
    // worker threads (their malloc arenas give memory back), which made 2 threads slower.
    let mut panel: Vec<f32> = PANEL.with(std::cell::Cell::take);
    let panel_offs: Vec<usize> = if use_panel {
        (0..cin).map(|i| i * NR).collect()
    } else {
        Vec::new()
    };
    let mut c0 = 0;
    while c0 < p {
        let c1 = (c0 + chunk).min(p);
        let full_tiles = (c1 - c0) / NR;
        if use_panel && full_tiles > 0 {
            panel.resize(full_tiles * cin * NR, 0.0);
            for (i, &off) in job.offs.iter().enumerate() {
                let src = &job.x[off + c0..][..full_tiles * NR];
                for (t, piece) in src.chunks_exact(NR).enumerate() {
                    panel[(t * cin + i) * NR..][..NR].copy_from_slice(piece);
                }
            }
        }
        for b in 0..blocks {
            let o0 = b * MR;
            let rows = MR.min(job.cout - o0);
            let w = &job.packed[b * cin * MR..][..cin * MR];
            // The block's bias, zero-padded to MR rows like the packed weights.
            let mut bias = [0f32; MR];
            bias[..rows].copy_from_slice(&job.bias[o0..][..rows]);
            let mut p0 = c0;
            while p0 < c1 {
                let n = NR.min(c1 - p0);
                let mut tile = Tile {
                    cin,
                    x: job.x,
                    offs: job.offs,
                    x0: p0,
                    w,
                    bias: &bias,
                    rows,
                    act: job.act,
                    residual: job.residual.map(|r| &r[o0 * ds + p0..]),
                    ds,
                    stream,
                };
                if n == NR {
                    let dst = out.offset(o0 * ds + p0);
                    if use_panel {
                        tile.x = &panel;
                        tile.offs = &panel_offs;
                        tile.x0 = (p0 - c0) / NR * cin * NR;
                        tile.check(MR, NR, edge_max_off, dst.len);
                    } else {
                        tile.check(MR, NR, max_off, dst.len);
                    }
                    kernel(&tile, dst);
                } else {
                    tile.x = &edge_x;
                    tile.offs = &edge_offs;
                    tile.x0 = 0;
                    tile.act = Activation::Identity;
                    tile.residual = None;
                    tile.ds = NR;
                    tile.stream = false;
                    tile.check(MR, NR, edge_max_off, edge_out.len());
                    kernel(&tile, Dst::new(&mut edge_out));
                    for r in 0..rows {
                        let at = (o0 + r) * ds + p0;
                        let dst = out.slice(at, n);
                        dst.copy_from_slice(&edge_out[r * NR..][..n]);
                        job.act.apply_slice(dst);
                        if let Some(res) = job.residual {
                            for (d, s) in dst.iter_mut().zip(&res[at..][..n]) {
                                *d += s;
                            }
                        }
                    }
                }
                p0 += n;
            }
        }
        c0 = c1;
    }
    PANEL.with(|keep| keep.set(panel));
}

thread_local! {
    /// The panel buffer of the products run on this thread (at most `L2_BUDGET_FLOATS` plus a
    /// tile per input channel).
    static PANEL: std::cell::Cell<Vec<f32>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Outputs larger than this (8 MiB) are written with non-temporal stores.
const STREAM_OVER_FLOATS: usize = 2 << 20;

/// Output blocks (of MR channels) from which a chunk's input is copied into a panel.
const PANEL_MIN_BLOCKS: usize = 2;
/// Input channels from which a chunk's input is copied into a panel.
const PANEL_MIN_CIN: usize = 16;

/// Input floats per pixel chunk (256 KiB: half of a small L2).
const L2_BUDGET_FLOATS: usize = 64 * 1024;

/// Portable micro-kernel (and the model for the SIMD ones).
///
/// # Safety
/// `t.check(MR, NR, …, dst.len)` holds and no other thread touches the tile's rows of `dst`.
#[inline(always)]
unsafe fn tile_portable<const MR: usize, const NR: usize, const FMA: bool>(t: &Tile, dst: Dst) {
    let mut acc = [[0f32; NR]; MR];
    for (r, a) in acc.iter_mut().enumerate() {
        *a = [t.bias[r]; NR];
    }
    for i in 0..t.cin {
        let xr = &t.x[t.offs[i] + t.x0..][..NR];
        let wr = &t.w[i * MR..][..MR];
        for r in 0..MR {
            let wv = wr[r];
            for c in 0..NR {
                acc[r][c] = madd::<FMA>(wv, xr[c], acc[r][c]);
            }
        }
    }
    for (r, a) in acc.iter().enumerate().take(t.rows) {
        let d = dst.slice(r * t.ds, NR);
        d.copy_from_slice(a);
        t.act.apply_slice(d);
        if let Some(res) = t.residual {
            for (v, s) in d.iter_mut().zip(&res[r * t.ds..][..NR]) {
                *v += s;
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod x86 {
    use super::{Activation, Dst, Tile};
    use std::arch::x86_64::*;

    #[inline(always)]
    pub(crate) unsafe fn act512(v: __m512, act: Activation) -> __m512 {
        let zero = _mm512_setzero_ps();
        let six = _mm512_set1_ps(6.0);
        match act {
            Activation::Identity => v,
            Activation::Relu => _mm512_max_ps(v, zero),
            Activation::Relu6 => _mm512_min_ps(_mm512_max_ps(v, zero), six),
            Activation::HardSwish { scale } => {
                let clip = _mm512_min_ps(
                    _mm512_max_ps(_mm512_add_ps(v, _mm512_set1_ps(3.0)), zero),
                    six,
                );
                _mm512_mul_ps(_mm512_mul_ps(v, _mm512_set1_ps(scale)), clip)
            }
        }
    }

    #[inline(always)]
    unsafe fn act256(v: __m256, act: Activation) -> __m256 {
        let zero = _mm256_setzero_ps();
        let six = _mm256_set1_ps(6.0);
        match act {
            Activation::Identity => v,
            Activation::Relu => _mm256_max_ps(v, zero),
            Activation::Relu6 => _mm256_min_ps(_mm256_max_ps(v, zero), six),
            Activation::HardSwish { scale } => {
                let clip = _mm256_min_ps(
                    _mm256_max_ps(_mm256_add_ps(v, _mm256_set1_ps(3.0)), zero),
                    six,
                );
                _mm256_mul_ps(_mm256_mul_ps(v, _mm256_set1_ps(scale)), clip)
            }
        }
    }

    /// 12 output channels × 32 pixels in 24 zmm accumulators; bias, activation and residual
    /// applied in registers. A last block of ≤ 4 or ≤ 8 channels (e.g. 16 = 12 + 4) computes
    /// only that many rows instead of 12.
    ///
    /// # Safety
    /// avx512f must be available, `t.check(12, 32, …, dst.len)` must hold, and no other thread
    /// may touch the tile's rows of `dst`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn tile_avx512(t: &Tile, dst: Dst) {
        match t.rows {
            0..=4 => rows_avx512::<4>(t, dst),
            5..=8 => rows_avx512::<8>(t, dst),
            _ => rows_avx512::<12>(t, dst),
        }
    }

    /// The first `R` rows of a 12-row block (packed weights keep their 12-float stride).
    ///
    /// # Safety
    /// As [`tile_avx512`], with `t.rows <= R <= 12`.
    #[target_feature(enable = "avx512f")]
    unsafe fn rows_avx512<const R: usize>(t: &Tile, dst: Dst) {
        const MR: usize = 12;
        debug_assert!(t.rows <= R && R <= MR);
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for (r, a) in acc.iter_mut().enumerate() {
            *a = [_mm512_set1_ps(*t.bias.get_unchecked(r)); 2];
        }
        let xp = t.x.as_ptr().add(t.x0);
        let wp = t.w.as_ptr();
        let op = t.offs.as_ptr();
        for i in 0..t.cin {
            let row = xp.add(*op.add(i));
            let a = _mm512_loadu_ps(row);
            let b = _mm512_loadu_ps(row.add(16));
            let wi = wp.add(i * MR);
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let wv = _mm512_set1_ps(*wi.add(r));
                acc_r[0] = _mm512_fmadd_ps(wv, a, acc_r[0]);
                acc_r[1] = _mm512_fmadd_ps(wv, b, acc_r[1]);
            }
        }
        let dp = dst.ptr;
        for (r, acc_r) in acc.iter().enumerate().take(t.rows) {
            let d = dp.add(r * t.ds);
            let mut lo = act512(acc_r[0], t.act);
            let mut hi = act512(acc_r[1], t.act);
            if let Some(res) = t.residual {
                let s = res.as_ptr().add(r * t.ds);
                lo = _mm512_add_ps(lo, _mm512_loadu_ps(s));
                hi = _mm512_add_ps(hi, _mm512_loadu_ps(s.add(16)));
            }
            if t.stream && (d as usize).is_multiple_of(64) {
                _mm512_stream_ps(d, lo);
                _mm512_stream_ps(d.add(16), hi);
            } else {
                _mm512_storeu_ps(d, lo);
                _mm512_storeu_ps(d.add(16), hi);
            }
        }
    }

    /// 6 output channels × 16 pixels in 12 ymm accumulators.
    ///
    /// # Safety
    /// avx2 and fma must be available, `t.check(6, 16, …, dst.len)` must hold, and no other
    /// thread may touch the tile's rows of `dst`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn tile_avx2(t: &Tile, dst: Dst) {
        const MR: usize = 6;
        let mut acc = [[_mm256_setzero_ps(); 2]; MR];
        for (r, a) in acc.iter_mut().enumerate() {
            *a = [_mm256_set1_ps(*t.bias.get_unchecked(r)); 2];
        }
        let xp = t.x.as_ptr().add(t.x0);
        let wp = t.w.as_ptr();
        let op = t.offs.as_ptr();
        for i in 0..t.cin {
            let row = xp.add(*op.add(i));
            let a = _mm256_loadu_ps(row);
            let b = _mm256_loadu_ps(row.add(8));
            let wi = wp.add(i * MR);
            for (r, acc_r) in acc.iter_mut().enumerate() {
                let wv = _mm256_broadcast_ss(&*wi.add(r));
                acc_r[0] = _mm256_fmadd_ps(wv, a, acc_r[0]);
                acc_r[1] = _mm256_fmadd_ps(wv, b, acc_r[1]);
            }
        }
        let dp = dst.ptr;
        for (r, acc_r) in acc.iter().enumerate().take(t.rows) {
            let d = dp.add(r * t.ds);
            let mut lo = act256(acc_r[0], t.act);
            let mut hi = act256(acc_r[1], t.act);
            if let Some(res) = t.residual {
                let s = res.as_ptr().add(r * t.ds);
                lo = _mm256_add_ps(lo, _mm256_loadu_ps(s));
                hi = _mm256_add_ps(hi, _mm256_loadu_ps(s.add(8)));
            }
            _mm256_storeu_ps(d, lo);
            _mm256_storeu_ps(d.add(8), hi);
        }
    }
}

// Weights are never NaN-compared; tract only needs equality to deduplicate nodes.
impl Eq for PointwiseConv {}

impl Op for PointwiseConv {
    fn name(&self) -> StaticName {
        "PointwiseConv".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        Ok(vec![format!(
            "{} -> {} channels, {:?} {}{} ({})",
            self.cin,
            self.cout,
            self.hw,
            self.act.name(),
            if self.residual { "+residual" } else { "" },
            self.isa.name()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for PointwiseConv {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let [h, w] = self.hw;
        let shape = [1, self.cout, h, w];
        super::eval_with_residual(
            "PointwiseConv",
            &inputs,
            self.residual,
            &shape,
            |x, r, o| self.run(x, r, o),
        )
    }
}

impl TypedOp for PointwiseConv {
    as_op!();

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let [h, w] = self.hw;
        ensure!(
            inputs[0].shape.as_concrete() == Some(&[1, self.cin, h, w]),
            "PointwiseConv: input does not match {:?}",
            [1, self.cin, h, w]
        );
        if self.residual {
            ensure!(
                inputs.len() == 2 && inputs[1].shape.as_concrete() == Some(&[1, self.cout, h, w]),
                "PointwiseConv: residual does not match the output"
            );
        }
        Ok(tvec!(f32::fact([1, self.cout, h, w])))
    }
}

#[cfg(test)]
mod tests {
    use super::super::rand_vec;
    use super::*;

    #[test]
    fn threads_split_the_work_without_changing_a_bit() {
        use tract_linalg::multithread::{multithread_tract_scope, Executor};
        let mut seed = 3u64;
        // Split by pixels (many tiles; 16 channels, which a block split balances badly),
        // and by output-channel blocks (a small map with many channels).
        for (cin, cout, hw) in [(64, 100, [40, 41]), (96, 16, [61, 37]), (1024, 100, [4, 5])] {
            let p = hw[0] * hw[1];
            assert!(cin * cout * p >= crate::kernels::PARALLEL_MIN_MACS);
            let w = Arc::new(rand_vec(cin * cout, &mut seed));
            let b = Arc::new(rand_vec(cout, &mut seed));
            let x = rand_vec(cin * p, &mut seed);
            let r = rand_vec(cout * p, &mut seed);
            for isa in Isa::all_supported() {
                let op =
                    PointwiseConv::new(isa, cin, cout, hw, &w, b.clone(), Activation::Relu6, true);
                let mut one = vec![f32::NAN; cout * p];
                op.run(&x, Some(&r), &mut one);
                for threads in [2, 3] {
                    let mut many = vec![f32::NAN; cout * p];
                    multithread_tract_scope(Executor::multithread(threads), || {
                        op.run(&x, Some(&r), &mut many)
                    });
                    assert!(
                        one.iter()
                            .zip(&many)
                            .all(|(a, b)| a.to_bits() == b.to_bits()),
                        "{isa:?} {cin}->{cout} {hw:?} {threads} threads"
                    );
                }
            }
        }
    }

    #[test]
    fn every_isa_matches_the_reference_on_odd_shapes() {
        let mut seed = 11u64;
        let mut cases = 0;
        // (200, 40) at 16×40: two pixel chunks whose full tiles go through the copied panel.
        for (cin, cout) in [
            (1, 1),
            (3, 5),
            (16, 16),
            (17, 33),
            (24, 144),
            (96, 7),
            (200, 40),
        ] {
            for hw in [[1, 1], [3, 5], [8, 8], [7, 13], [16, 40]] {
                for (k, residual) in [(0, false), (1, true), (2, false), (3, true)] {
                    let act = [
                        Activation::Identity,
                        Activation::Relu,
                        Activation::Relu6,
                        Activation::HardSwish { scale: 1.0 / 6.0 },
                    ][k];
                    let p = hw[0] * hw[1];
                    let w = Arc::new(rand_vec(cin * cout, &mut seed));
                    let b = Arc::new(rand_vec(cout, &mut seed));
                    let x: Vec<f32> = rand_vec(cin * p, &mut seed)
                        .iter()
                        .map(|v| v * 4.0)
                        .collect();
                    let res = residual.then(|| rand_vec(cout * p, &mut seed));
                    let mut want = vec![0f32; cout * p];
                    for o in 0..cout {
                        for j in 0..p {
                            let mut acc = b[o] as f64;
                            for i in 0..cin {
                                acc += w[o * cin + i] as f64 * x[i * p + j] as f64;
                            }
                            let mut v = act.apply(acc as f32);
                            if let Some(r) = &res {
                                v += r[o * p + j];
                            }
                            want[o * p + j] = v;
                        }
                    }
                    for isa in Isa::all_supported() {
                        let op =
                            PointwiseConv::new(isa, cin, cout, hw, &w, b.clone(), act, residual);
                        let mut got = vec![f32::NAN; want.len()];
                        op.run(&x, res.as_deref(), &mut got);
                        for (i, (g, r)) in got.iter().zip(&want).enumerate() {
                            assert!(
                                (g - r).abs() <= 1e-4 * (1.0 + r.abs()),
                                "{isa:?} {cin}->{cout} {hw:?} {act:?} [{i}]: {g} vs {r}"
                            );
                        }
                    }
                    cases += 1;
                }
            }
        }
        assert_eq!(cases, 140);
    }
}
