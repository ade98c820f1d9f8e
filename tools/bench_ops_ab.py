#!/usr/bin/env python3
"""Per-node A/B of `centerscope bench --ops`: two or more binaries (or settings), same model,
interleaved rounds, the median of each node's time per configuration side by side.

  python tools/bench_ops_ab.py MODEL WxH ROUNDS REGEX NAME=BINARY[:ENV=VALUE...] ...

  e.g. python tools/bench_ops_ab.py centerface 640x480 5 'Depthwise' \\
           before=/tmp/centerscope-old now=target/release/centerscope \\
           nofuse=target/release/centerscope:CENTERSCOPE_FUSE=off

Rows are nodes (`CENTERSCOPE_OPS_BY_NODE=1`) whose description matches REGEX ('.' for all),
sorted by their largest time; a node absent from a configuration (fused away) shows 0.00.
The first line is each configuration's inference p50. Extra bench arguments (e.g.
`--matmul-threads 2`) go in the environment variable AB_ARGS. On a shared machine single
runs swing by ±15 %: compare the columns of one run, with 5 or more rounds.
"""
import os
import re
import statistics
import subprocess
import sys


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__)
    model, size, rounds, pat = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    cfgs = []
    for c in sys.argv[5:]:
        name, rest = c.split("=", 1)
        parts = rest.split(":")
        env = dict(os.environ, CENTERSCOPE_OPS_BY_NODE="1")
        for kv in parts[1:]:
            k, v = kv.split("=", 1)
            env[k] = v
        cfgs.append((name, parts[0], env))
    res = {n: {} for n, _, _ in cfgs}
    tot = {n: [] for n, _, _ in cfgs}
    extra = os.environ.get("AB_ARGS", "").split()
    for r in range(rounds):
        for name, binary, env in (cfgs if r % 2 == 0 else cfgs[::-1]):
            cmd = [binary, "bench", "--model", model, "--size", size, "--workers", "1",
                   "--frames", "20", "--ops"] + extra
            lines = subprocess.run(cmd, capture_output=True, text=True, env=env,
                                   check=True).stdout.splitlines()
            tot[name].append(float(lines[1].split()[6].split("/")[0]))
            for line in lines[3:]:
                m = re.match(r"\s+(.*?)\s+(\d+) nodes\s+([\d.]+) ms", line)
                if m:
                    key = re.sub(r"\s+", " ", m.group(1).replace("(avx512)", ""))[:110]
                    res[name].setdefault(key, []).append(float(m.group(3)))
    names = [n for n, _, _ in cfgs]
    med = lambda n, k: statistics.median(res[n].get(k, [0.0]))  # noqa: E731
    print("inference p50 ms: " + "  ".join(f"{n} {statistics.median(tot[n]):.2f}" for n in names))
    print("  ".join(f"{n:>6}" for n in names))
    keys = list(dict.fromkeys(k for n in names for k in res[n]))
    keys.sort(key=lambda k: -max(med(n, k) for n in names))
    for k in keys:
        if re.search(pat, k):
            print("  ".join(f"{med(n, k):6.2f}" for n in names), " ", k)


if __name__ == "__main__":
    main()
