//! Dense 3×3 stride-1 convolution, Winograd F(4×4, 3×3) against the direct kernel, on one
//! thread, same input, interleaved repetitions: how `WinogradConv::worth_it` was chosen
//! (docs/benchmarks.md, session 8).
//!
//!   cargo run --release --example conv3x3_bench -- CIN COUT H W [REPS]

use centerscope::kernels::activation::Activation;
use centerscope::kernels::simd::Isa;
use centerscope::kernels::spatial::SpatialConv;
use centerscope::kernels::winograd::WinogradConv;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap_or_else(|_| panic!("not a number: {s}")))
        .collect();
    let &[cin, cout, h, w, ..] = &args[..] else {
        eprintln!("usage: conv3x3_bench CIN COUT H W [REPS]");
        std::process::exit(2);
    };
    let reps = args.get(4).copied().unwrap_or(30).max(1);
    let wt: Vec<f32> = (0..cout * cin * 9)
        .map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let x: Vec<f32> = (0..cin * h * w)
        .map(|i| ((i * 104729) % 1000) as f32 / 1000.0 - 0.5)
        .collect();
    let b = Arc::new(vec![0.1f32; cout]);
    let (isa, act, pad, hw) = (Isa::best(), Activation::Relu, [1, 1], [h, w]);
    let wg = WinogradConv::new(isa, cin, cout, pad, hw, hw, &wt, b.clone(), act);
    let direct = SpatialConv::new(isa, cin, cout, 3, 1, pad, hw, hw, &wt, b, act);
    let mut out = vec![0f32; cout * h * w];
    let (mut t_wg, mut t_direct) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let t = Instant::now();
        wg.run(&x, &mut out);
        t_wg.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        direct.run(&x, &mut out);
        t_direct.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (a, d) = (median(&mut t_wg), median(&mut t_direct));
    println!(
        "{cin}->{cout} {h}x{w} ({}): winograd {a:.2} ms, direct {d:.2} ms, ratio {:.2}",
        isa.name(),
        a / d
    );
}
