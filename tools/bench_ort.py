#!/usr/bin/env python3
"""Time onnxruntime on the models in models/ (reference numbers for the tract engine).

  python tools/bench_ort.py [--models id,id] [--size HxW] [--threads N] [--runs N] [--warmup N] [--json]

Default: every model at its manifest default size, intra_op_num_threads=1, inter_op=1,
sequential execution, 2 warm-up runs (excluded), 20 timed runs. Prints median and p95 ms.
--size only applies to models whose manifest allows other sizes (size_multiple > 0).
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
import onnxruntime as ort

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELS = os.path.join(REPO, "models")
IDS = ["centerface", "centernet-mobilenetv3-coco", "movenet-multipose"]


def bench(mid, size, threads, runs, warmup):
    with open(os.path.join(MODELS, mid + ".json")) as f:
        man = json.load(f)
    inp = man["input"]
    h, w = man["input"]["size"]
    if size and inp["size_multiple"] > 0:
        h, w = size
        m = inp["size_multiple"]
        assert h % m == 0 and w % m == 0, f"{mid}: size must be a multiple of {m}"
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(os.path.join(MODELS, man["file"]), so,
                                providers=["CPUExecutionProvider"])
    shape = [1, 3, h, w] if inp["layout"] == "nchw" else [1, h, w, 3]
    rng = np.random.RandomState(0)
    x = rng.randint(0, 256, shape)
    x = x.astype(np.int32 if inp["dtype"] == "i32" else np.float32)
    feeds = {inp["name"]: x}
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1000.0)
    times.sort()
    p95 = times[min(len(times) - 1, int(np.ceil(0.95 * len(times))) - 1)]
    return {"model": mid, "size": [h, w], "threads": threads,
            "median_ms": round(statistics.median(times), 3), "p95_ms": round(p95, 3),
            "runs": runs}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(IDS))
    ap.add_argument("--size", default=None, help="HxW, e.g. 480x640")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    size = [int(v) for v in a.size.lower().split("x")] if a.size else None
    res = [bench(m, size, a.threads, a.runs, a.warmup) for m in a.models.split(",")]
    if a.json:
        print(json.dumps(res))
    else:
        print(f"onnxruntime {ort.__version__}")
        for r in res:
            print(f"{r['model']:30s} {r['size'][0]}x{r['size'][1]:<5d} threads={r['threads']} "
                  f"median {r['median_ms']:8.2f} ms  p95 {r['p95_ms']:8.2f} ms  ({r['runs']} runs)")


if __name__ == "__main__":
    main()
