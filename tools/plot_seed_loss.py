#!/usr/bin/env python3
"""docs/seed-loss.png: training loss (every 10th iteration) and validation mAP@0.5 per epoch of
tools/train_centernet.py runs, read from their logs (stdout).

  python tools/plot_seed_loss.py --out docs/seed-loss.png LABEL=run.log [LABEL=run.log ...]
"""
import argparse
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ITER = re.compile(r"^\s*iter (\d+)/(\d+) loss ([0-9.]+)")
EPOCH = re.compile(r"^epoch\s+(\d+)/(\d+)\s+loss ([0-9.]+).*val mAP@0.5 ([0-9.]+)")


def parse(path):
    it, ep = [], []
    for line in open(path):
        m = ITER.match(line)
        if m:
            it.append((int(m.group(1)), float(m.group(3))))
            continue
        m = EPOCH.match(line)
        if m:
            ep.append((int(m.group(1)), float(m.group(4))))
    return it, ep


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--title", default="tools/train_centernet.py on the synthetic shapes, CPU")
    ap.add_argument("runs", nargs="+")
    a = ap.parse_args()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.8), dpi=100)
    for run in a.runs:
        label, path = run.split("=", 1)
        it, ep = parse(path)
        ax.plot([i for i, _ in it], [v for _, v in it], lw=1.4, label=label)
        ax2.plot([e for e, _ in ep], [m for _, m in ep], "o-", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("train loss (focal + 0.1·L1 size + L1 offset), batch")
    ax.grid(alpha=0.3, which="both")
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("validation mAP@0.5 (200 images)")
    ax2.set_ylim(0, 1)
    ax2.grid(alpha=0.3)
    fig.suptitle(a.title, fontsize=10)
    h, l = ax.get_legend_handles_labels()
    fig.legend(h, l, loc="lower center", ncol=1, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    fig.savefig(a.out)
    print("wrote", a.out)


if __name__ == "__main__":
    main()
