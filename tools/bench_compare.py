#!/usr/bin/env python3
"""tract (ours and stock) against onnxruntime, at 1 and 2 threads, same run, same input sizes.

  python tools/bench_compare.py [--models id,id] [--threads 1,2] [--runs N] [--no-stock]
                                [--binary target/release/centerscope]

For each built-in model at its manifest default size and each thread count, interleaved so
that all see the same machine conditions: onnxruntime with `intra_op_num_threads = T`
(tools/bench_ort.py), `centerscope bench --stock-tract` (tract's own kernels) and
`centerscope bench` (with Centerscope's kernels), both with `--matmul-threads T` (one worker,
T threads on the one frame).
They are measured in turn, in a different order each round, --rounds times (default 3), and
each figure is the median of its rounds: the machines are shared, and a burst of load during one measurement would
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


def tract(binary, mid, size_hw, runs, stock, threads=1):
    h, w = size_hw
    cmd = [binary, "bench", "--model", mid, "--size", f"{w}x{h}", "--workers", "1",
           "--matmul-threads", str(threads), "--frames", str(runs), "--json"]
    if stock:
        cmd.append("--stock-tract")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    rep = json.loads(out.strip().splitlines()[-1])
    return rep["stages"]["inference"]["median_ms"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(bench_ort.IDS))
    ap.add_argument("--threads", default="1,2", help="thread counts, e.g. 1,2")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "release", "centerscope"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--no-stock", action="store_true", help="skip tract's own kernels")
    ap.add_argument("--before", help="another centerscope binary (e.g. the previous commit's) "
                    "measured in the same rounds: a before/after column")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    threads = [int(t) for t in a.threads.split(",")]
    rows = []
    for mid in a.models.split(","):
        for t in threads:
            orts, stocks, ourss, befores = [], [], [], []
            size = bench_ort.bench(mid, None, t, 1, 0)["size"]
            jobs = [(orts, lambda: bench_ort.bench(mid, None, t, a.runs, 3)["median_ms"])]
            if a.before:
                jobs.append((befores, lambda: tract(a.before, mid, size, a.runs, False, t)))
            if not a.no_stock:
                jobs.append((stocks, lambda: tract(a.binary, mid, size, a.runs, True, t)))
            jobs.append((ourss, lambda: tract(a.binary, mid, size, a.runs, False, t)))
            for r in range(a.rounds):
                # A different order each round: no runtime always goes first (or last).
                for out, measure in jobs[r % len(jobs):] + jobs[:r % len(jobs)]:
                    out.append(measure())
            ort_ms = statistics.median(orts)
            ours = statistics.median(ourss)
            stock = statistics.median(stocks) if stocks else None
            before = statistics.median(befores) if befores else None
            rows.append({"model": mid, "size_hw": size, "threads": t,
                         "onnxruntime_ms": round(ort_ms, 3),
                         "tract_stock_ms": None if stock is None else round(stock, 3),
                         "tract_ours_ms": round(ours, 3),
                         "ratio_stock": None if stock is None else round(stock / ort_ms, 3),
                         "ratio_ours": round(ours / ort_ms, 3),
                         "before_ms": None if before is None else round(before, 3),
                         "ratio_before": None if before is None else round(before / ort_ms, 3),
                         "rounds": {"onnxruntime_ms": orts, "tract_stock_ms": stocks,
                                    "tract_ours_ms": ourss, "before_ms": befores}})
    if a.json:
        for r in rows:
            print(json.dumps(r))
        return
    print(f"onnxruntime {bench_ort.ort.__version__}; inference median ms over {a.runs} runs, "
          f"median of {a.rounds} interleaved rounds; T = threads on one frame")
    print(f"{'model':28s} {'size':>8s} {'T':>2s} {'ort':>8s} {'stock':>8s} {'before':>8s} "
          f"{'ours':>8s} {'stock/ort':>10s} {'before/ort':>10s} {'ours/ort':>9s}")
    for r in rows:
        h, w = r["size_hw"]
        stock = "-" if r["tract_stock_ms"] is None else f"{r['tract_stock_ms']:.1f}"
        rstock = "-" if r["ratio_stock"] is None else f"{r['ratio_stock']:.2f}x"
        before = "-" if r["before_ms"] is None else f"{r['before_ms']:.1f}"
        rbefore = "-" if r["ratio_before"] is None else f"{r['ratio_before']:.2f}x"
        print(f"{r['model']:28s} {f'{w}x{h}':>8s} {r['threads']:2d} {r['onnxruntime_ms']:8.1f} "
              f"{stock:>8s} {before:>8s} {r['tract_ours_ms']:8.1f} {rstock:>10s} {rbefore:>10s} "
              f"{r['ratio_ours']:8.2f}x")
    # Two threads on one frame against one: how well each runtime splits a frame.
    for mid in a.models.split(","):
        by_t = {r["threads"]: r for r in rows if r["model"] == mid}
        if 1 in by_t and 2 in by_t:
            o = by_t[1]["onnxruntime_ms"] / by_t[2]["onnxruntime_ms"]
            us = by_t[1]["tract_ours_ms"] / by_t[2]["tract_ours_ms"]
            print(f"{mid:28s} 2-thread speed-up: onnxruntime {o:.2f}x, ours {us:.2f}x")


if __name__ == "__main__":
    main()
