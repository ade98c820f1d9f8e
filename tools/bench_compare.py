#!/usr/bin/env python3
"""tract (ours and stock) against onnxruntime, single thread, same run, same input sizes.

  python tools/bench_compare.py [--models id,id] [--runs N] [--binary target/release/centerscope]

For each built-in model at its manifest default size, interleaved so that all three see the
same machine conditions: onnxruntime 1 thread (tools/bench_ort.py), `centerscope bench
--stock-tract` (tract's own kernels), `centerscope bench` (with Centerscope's kernels).
The three are measured in turn, --rounds times (default 3), and each figure is the median
of its rounds: the machines are shared, and a burst of load during one measurement would
otherwise decide a ratio. Prints one table and, with --json, one JSON object per model.
Inference medians only, same input size for all, warm-up excluded.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_ort  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def tract(binary, mid, size_hw, runs, stock):
    h, w = size_hw
    cmd = [binary, "bench", "--model", mid, "--size", f"{w}x{h}", "--workers", "1",
           "--frames", str(runs), "--json"]
    if stock:
        cmd.append("--stock-tract")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rep = json.loads(out.strip().splitlines()[-1])
    return rep["stages"]["inference"]["median_ms"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(bench_ort.IDS))
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "release", "centerscope"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = []
    for mid in a.models.split(","):
        orts, stocks, ourss = [], [], []
        for _ in range(a.rounds):
            o = bench_ort.bench(mid, None, 1, a.runs, 3)
            orts.append(o["median_ms"])
            stocks.append(tract(a.binary, mid, o["size"], a.runs, True))
            ourss.append(tract(a.binary, mid, o["size"], a.runs, False))
        ort_ms, stock, ours = (statistics.median(v) for v in (orts, stocks, ourss))
        rows.append({"model": mid, "size_hw": o["size"], "onnxruntime_ms": round(ort_ms, 3),
                     "tract_stock_ms": round(stock, 3), "tract_ours_ms": round(ours, 3),
                     "ratio_stock": round(stock / ort_ms, 3),
                     "ratio_ours": round(ours / ort_ms, 3),
                     "rounds": {"onnxruntime_ms": orts, "tract_stock_ms": stocks,
                                "tract_ours_ms": ourss}})
    if a.json:
        for r in rows:
            print(json.dumps(r))
        return
    print(f"onnxruntime {bench_ort.ort.__version__}, 1 thread; inference median ms over {a.runs} runs, "
          f"median of {a.rounds} interleaved rounds")
    print(f"{'model':28s} {'size':>8s} {'ort':>8s} {'stock':>8s} {'ours':>8s} {'stock/ort':>10s} {'ours/ort':>9s}")
    for r in rows:
        h, w = r["size_hw"]
        print(f"{r['model']:28s} {f'{w}x{h}':>8s} {r['onnxruntime_ms']:8.1f} {r['tract_stock_ms']:8.1f} "
              f"{r['tract_ours_ms']:8.1f} {r['ratio_stock']:9.2f}x {r['ratio_ours']:8.2f}x")


if __name__ == "__main__":
    main()
