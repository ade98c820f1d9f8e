#!/usr/bin/env python3
"""Where onnxruntime spends its time, node by node: the reference for `centerscope bench --ops`.

  python tools/ort_ops.py --model centerface [--size HxW] [--threads 1] [--runs 20] [--top 25]

Runs the model with onnxruntime's profiler on (same session options as tools/bench_ort.py:
intra_op_num_threads = T, sequential), drops the warm-up runs, and prints per node of the
optimised graph (onnxruntime fuses Conv + activation and moves convolutions to its NCHWc
layout, so node names are its own) the median time over the timed runs, its operator, and
its output shape; then the time per operator kind. Compare with
`CENTERSCOPE_OPS_BY_NODE=1 centerscope bench --model M --size WxH --workers 1 --ops`.
"""
import argparse
import collections
import json
import os
import statistics
import sys
import tempfile

import numpy as np
import onnxruntime as ort

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_ort import MODELS  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True, help="built-in id or path of a manifest .json")
    ap.add_argument("--size", default=None, help="HxW, e.g. 480x640")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    # A built-in id, or the path of a manifest (e.g. the seed models of tools/seed_models.py).
    man_path = a.model if a.model.endswith(".json") else os.path.join(MODELS, a.model + ".json")
    with open(man_path) as f:
        man = json.load(f)
    inp = man["input"]
    h, w = inp["size"]
    if a.size:
        h, w = [int(v) for v in a.size.lower().split("x")]
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.mkdtemp(), "ort")
    sess = ort.InferenceSession(os.path.join(os.path.dirname(man_path), man["file"]), so,
                                providers=["CPUExecutionProvider"])
    shape = [1, 3, h, w] if inp["layout"] == "nchw" else [1, h, w, 3]
    x = np.random.RandomState(0).randint(0, 256, shape)
    x = x.astype(np.int32 if inp["dtype"] == "i32" else np.float32)
    for _ in range(a.warmup + a.runs):
        sess.run(None, {inp["name"]: x})
    path = sess.end_profiling()
    with open(path) as f:
        events = json.load(f)
    runs = [e for e in events if e.get("name") == "model_run"]
    runs.sort(key=lambda e: e["ts"])
    timed = runs[a.warmup:]
    per_node = collections.defaultdict(list)
    info = {}
    for e in events:
        if e.get("cat") != "Node" or not e["name"].endswith("_kernel_time"):
            continue
        if not any(r["ts"] <= e["ts"] <= r["ts"] + r["dur"] for r in timed):
            continue
        name = e["name"][: -len("_kernel_time")]
        per_node[name].append(e["dur"] / 1000.0)
        args = e.get("args", {})
        shapes = args.get("output_type_shape", [])
        out = ""
        if shapes:
            dims = list(shapes[0].values())[0] if isinstance(shapes[0], dict) else shapes[0]
            out = "x".join(str(d) for d in dims)
        info[name] = (args.get("op_name", "?"), out)
    model_ms = statistics.median(r["dur"] / 1000.0 for r in timed)
    rows = [(statistics.median(v), n) for n, v in per_node.items()]
    rows.sort(reverse=True)
    total = sum(t for t, _ in rows)
    print(f"onnxruntime {ort.__version__} {a.model} {h}x{w} threads={a.threads}: "
          f"run p50 {model_ms:.2f} ms, nodes sum {total:.2f} ms ({len(rows)} nodes)")
    for t, n in rows[: a.top]:
        op, out = info[n]
        print(f"{t:8.3f} ms  {op:22s} {out:22s} {n}")
    kinds = collections.defaultdict(lambda: [0.0, 0])
    for t, n in rows:
        k = kinds[info[n][0]]
        k[0] += t
        k[1] += 1
    print("by operator kind:")
    for op, (t, c) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
        print(f"{t:8.3f} ms  {op:22s} {c} nodes")


if __name__ == "__main__":
    main()
