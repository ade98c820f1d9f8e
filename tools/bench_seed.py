#!/usr/bin/env python3
"""The table of issue 15: the write-up's models at 512x512 in PyTorch eager (the write-up's
runtime), onnxruntime and Centerscope, at 1 and 2 threads, in one run.

  python tools/bench_seed.py --dir DIR [--models a,b] [--runs 10] [--rounds 3]
                             [--threads 1,2] [--binary target/release/centerscope] [--json out.json]

DIR holds the ONNX files and manifests written by `tools/seed_models.py --out DIR`. For every
round, every model and every thread count, the three runtimes are timed in turn (interleaved,
as tools/bench_compare.py does, so that they see the same machine load); each figure is the
median over rounds of the per-round median over --runs timed runs (after 2 warm-up runs).
  PyTorch: eager, torch.set_num_threads(N), torch.inference_mode, random-weight model built by
           seed_models.build (same weights statistics as the export), input [1,3,512,512].
  onnxruntime: intra_op_num_threads=N, inter_op 1, sequential, all graph optimisations.
  Centerscope: `centerscope bench --model DIR/<id>.json --workers 1 --matmul-threads N
           --frames runs --json`, inference stage median (its own generated 1280x720 picture,
           letterboxed; the decode ("postprocess") median is reported separately).
Prints a Markdown table; --json also writes every sample.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_models as sm  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The write-up's table (PyTorch, CPU, 512x512).
CLAIMS = {
    "seed-mobilenetv2-as-published": {"params_m": 4.3, "mb": 17, "ms": 600},
    "mobilenetv2-centernet": {"params_m": 4.3, "mb": 17, "ms": 600},
    "mobilenetv1-centernet": {"params_m": 3.2, "mb": None, "ms": 250},
    "dla34-centernet": {"params_m": 20, "mb": None, "ms": 1200},
}


def time_fn(fn, runs, warmup=2):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(ts)


def bench_torch(model, x, threads, runs):
    torch.set_num_threads(threads)
    with torch.inference_mode():
        return time_fn(lambda: model(x), runs)


def bench_ort(sess_by_threads, path, x, threads, runs):
    import onnxruntime as ort
    if threads not in sess_by_threads:
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        sess_by_threads[threads] = ort.InferenceSession(path, so,
                                                        providers=["CPUExecutionProvider"])
    s = sess_by_threads[threads]
    feeds = {"input": x}
    return time_fn(lambda: s.run(None, feeds), runs)


def bench_centerscope(binary, manifest, threads, runs):
    cmd = [binary, "bench", "--model", manifest, "--workers", "1", "--matmul-threads",
           str(threads), "--frames", str(runs), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {r.returncode}: {r.stderr.strip()}")
    rep = json.loads(r.stdout.strip().splitlines()[-1])
    st = rep["stages"]
    return (st["inference"]["median_ms"], st.get("postprocess", {}).get("median_ms"), rep)


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--models", default=",".join(sm.MODEL_IDS))
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--binary", default=os.path.join(REPO, "target", "release", "centerscope"),
                    help="`none` skips Centerscope")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    import onnx
    import onnxruntime as ort
    threads = [int(t) for t in a.threads.split(",")]
    mids = a.models.split(",")
    info, models, sessions, errors = {}, {}, {}, {}
    x = torch.from_numpy(((np.random.RandomState(0).randint(0, 256, (1, 3, 512, 512))
                           - 120.0) / 60.0).astype(np.float32))
    for mid in mids:
        path = os.path.join(a.dir, mid + ".onnx")
        man = json.load(open(os.path.join(a.dir, mid + ".json")))
        torch.set_num_threads(2)
        m = sm.build(mid)
        sm.calibrate_bn(m, 256)
        m.eval()
        with torch.inference_mode():
            outs = m(x)
        proto = onnx.load(path)
        info[mid] = {"params_torch": sm.count_params_torch(m),
                     "params_onnx": sm.onnx_params(proto),
                     "onnx_bytes": os.path.getsize(path), "macs": man["macs"],
                     "macs_by_part": sm.onnx_macs(path, by_part=True),
                     "outputs": {n: list(o.shape) for n, o in zip(("hm", "wh", "reg"), outs)}}
        models[mid] = m
        sessions[mid] = {}
    samples = {mid: {rt: {t: [] for t in threads} for rt in ("torch", "ort", "centerscope",
                                                              "centerscope_decode")}
               for mid in mids}
    t_start = time.time()
    for rnd in range(a.rounds):
        for mid in mids:
            path = os.path.join(a.dir, mid + ".onnx")
            for t in threads:
                s = samples[mid]
                s["torch"][t].append(bench_torch(models[mid], x, t, a.runs))
                s["ort"][t].append(bench_ort(sessions[mid], path, x.numpy(), t, a.runs))
                try:
                    if a.binary == "none":
                        raise RuntimeError("not measured (--binary none)")
                    inf, dec, _ = bench_centerscope(a.binary, os.path.join(a.dir, mid + ".json"),
                                                    t, a.runs)
                    s["centerscope"][t].append(inf)
                    s["centerscope_decode"][t].append(dec)
                except RuntimeError as e:
                    errors[mid] = str(e)
                print(f"round {rnd + 1} {mid} {t} thr: torch {s['torch'][t][-1]:.1f}  ort "
                      f"{s['ort'][t][-1]:.1f}  centerscope "
                      f"{s['centerscope'][t][-1] if s['centerscope'][t] else float('nan'):.1f}",
                      file=sys.stderr, flush=True)
    med = {mid: {rt: {t: (round(statistics.median(v), 1) if v else None)
                      for t, v in d.items()} for rt, d in samples[mid].items()} for mid in mids}
    meta = {"date": time.strftime("%Y-%m-%d %H:%M %Z"), "cpu": cpu_name(),
            "cpus": os.cpu_count(), "torch": torch.__version__, "onnxruntime": ort.__version__,
            "onnx": onnx.__version__, "runs": a.runs, "rounds": a.rounds,
            "seconds": round(time.time() - t_start), "loadavg_end": os.getloadavg(),
            "binary": a.binary}
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"meta": meta, "info": info, "median_ms": med, "samples": samples,
                       "errors": errors}, f, indent=1)

    print(f"{meta['date']}, {meta['cpu']} ({meta['cpus']} vCPU), torch {meta['torch']}, "
          f"onnxruntime {meta['onnxruntime']}; median of {a.rounds} interleaved rounds of "
          f"{a.runs} runs; load average at the end {meta['loadavg_end'][0]:.2f}\n")
    hdr = ["model", "params", "ONNX MB", "GMACs (parts)", "hm output"]
    for t in threads:
        hdr += [f"PyTorch {t}T ms", f"ORT {t}T ms", f"Centerscope {t}T ms"]
    hdr += ["Centerscope decode ms (1T)", "write-up: params / MB / ms"]
    print("| " + " | ".join(hdr) + " |")
    print("|" + "|".join(["---"] + ["---:"] * (len(hdr) - 1)) + "|")
    for mid in mids:
        i, m, c = info[mid], med[mid], CLAIMS.get(mid, {})
        row = [f"`{mid}`", f"{i['params_onnx'] / 1e6:.2f} M", f"{i['onnx_bytes'] / 1e6:.1f}",
               f"{i['macs'] / 1e9:.2f} ("
               + " + ".join(f"{k} {v / 1e9:.2f}" for k, v in i["macs_by_part"].items()) + ")",
               "×".join(str(v) for v in i["outputs"]["hm"][1:])]
        for t in threads:
            row += [f"{m['torch'][t]}", f"{m['ort'][t]}", f"{m['centerscope'][t]}"]
        row += [f"{m['centerscope_decode'][threads[0]]}",
                f"{c.get('params_m', '–')} M / {c.get('mb') or '–'} / {c.get('ms', '–')}"]
        print("| " + " | ".join(row) + " |")
    if errors:
        print("\nCenterscope errors:")
        for mid, e in errors.items():
            print(f"- {mid}: {e}")
    print("\nratios (Centerscope / ORT, Centerscope / PyTorch):")
    for mid in mids:
        m = med[mid]
        parts = []
        for t in threads:
            cs = m["centerscope"][t]
            if cs:
                parts.append(f"{t}T {cs / m['ort'][t]:.2f} / {cs / m['torch'][t]:.2f}")
        print(f"- {mid}: " + ", ".join(parts))


if __name__ == "__main__":
    main()
