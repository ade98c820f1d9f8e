#!/usr/bin/env python3
"""Train a MobileNetV2 CenterNet (tools/seed_models.py `MobileCenterNet`) on a COCO- or
YOLO-format dataset on the CPU, and export ONNX + a `centernet-classic` manifest that
Centerscope loads by path or from its user models folder.

  python tools/train_centernet.py --data DIR --out OUTDIR --id my-model [--format coco|yolo]
      [--size 256] [--width 1.0] [--neck 128,64,64] [--head-conv 64] [--epochs 30] [--batch 16]
      [--lr 1e-3] [--threads 2] [--centerscope path/to/centerscope]

Dataset layouts: COCO = DIR/{train,val}/ + DIR/annotations/instances_{train,val}.json;
YOLO = DIR/{train,val}/*.{png,jpg} with *.txt beside them ("cls cx cy w h", normalised) and
DIR/classes.txt (one name a line). tools/make_seed_dataset.py writes both.

Method (xingyizhou/CenterNet's ctdet): Gaussian-splatted class heatmaps at stride 4 (radius
from gaussian_radius(min_overlap=0.7)), penalty-reduced focal loss on the heatmap, L1 on the
size (weight 0.1) and offset (weight 1) at object centres; Adam; augmentation: random scale
(0.6-1.3) and placement, horizontal flip, brightness/contrast/saturation jitter. Each epoch:
mAP@0.5 on the validation split, decoded exactly as Centerscope decodes `centernet-classic`
(3x3 peak test, threshold, top-K, class-aware NMS). At the end: OUTDIR/<id>.onnx,
OUTDIR/<id>.json (dataset label names), OUTDIR/<id>-train.json (losses, mAP per epoch, timing),
OUTDIR/<id>-loss.png, and, with --centerscope, a check that `centerscope detect` on the
validation images gives PyTorch's boxes (per-box IoU).
"""
import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import seed_models as sm  # noqa: E402

IMG_EXT = (".png", ".jpg", ".jpeg", ".bmp", ".webp")


# ------------------------------------------------------------------------------ data

def load_coco(root, split):
    with open(os.path.join(root, "annotations", f"instances_{split}.json")) as f:
        coco = json.load(f)
    cats = sorted(coco["categories"], key=lambda c: c["id"])
    cat_idx = {c["id"]: k for k, c in enumerate(cats)}
    per = {im["id"]: [] for im in coco["images"]}
    for a in coco["annotations"]:
        if a.get("iscrowd", 0):
            continue
        x, y, w, h = a["bbox"]
        per[a["image_id"]].append([x, y, x + w, y + h, cat_idx[a["category_id"]]])
    items = []
    for im in sorted(coco["images"], key=lambda i: i["file_name"]):
        b = np.array(per[im["id"]], np.float32).reshape(-1, 5)
        items.append((os.path.join(root, split, im["file_name"]), b))
    return items, [c["name"] for c in cats]


def load_yolo(root, split):
    with open(os.path.join(root, "classes.txt")) as f:
        labels = [l.strip() for l in f if l.strip()]
    d = os.path.join(root, split)
    items = []
    for name in sorted(os.listdir(d)):
        if not name.lower().endswith(IMG_EXT):
            continue
        path = os.path.join(d, name)
        w, h = Image.open(path).size
        rows = []
        txt = os.path.splitext(path)[0] + ".txt"
        if os.path.exists(txt):
            for line in open(txt):
                p = line.split()
                if len(p) >= 5:
                    c, cx, cy, bw, bh = int(p[0]), *map(float, p[1:5])
                    rows.append([(cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w,
                                 (cy + bh / 2) * h, c])
        items.append((path, np.array(rows, np.float32).reshape(-1, 5)))
    return items, labels


def letterbox_scale(w, h, size):
    return min(size / w, size / h)


def gaussian_radius(h, w, min_overlap=0.7):
    """CenterNet's (CornerNet's) radius so that a box moved within it keeps IoU >= min_overlap."""
    a1, b1, c1 = 1, h + w, w * h * (1 - min_overlap) / (1 + min_overlap)
    r1 = (b1 + math.sqrt(b1 ** 2 - 4 * a1 * c1)) / 2
    a2, b2, c2 = 4, 2 * (h + w), (1 - min_overlap) * w * h
    r2 = (b2 + math.sqrt(b2 ** 2 - 4 * a2 * c2)) / 2
    a3, b3, c3 = 4 * min_overlap, -2 * min_overlap * (h + w), (min_overlap - 1) * w * h
    r3 = (b3 + math.sqrt(b3 ** 2 - 4 * a3 * c3)) / 2
    return min(r1, r2, r3)


def draw_gaussian(hm, cx, cy, radius):
    d = 2 * radius + 1
    sigma = d / 6
    ys, xs = np.ogrid[-radius:radius + 1, -radius:radius + 1]
    g = np.exp(-(xs * xs + ys * ys) / (2 * sigma * sigma))
    H, W = hm.shape
    l, r = min(cx, radius), min(W - cx, radius + 1)
    t, b = min(cy, radius), min(H - cy, radius + 1)
    region = hm[cy - t:cy + b, cx - l:cx + r]
    gg = g[radius - t:radius + b, radius - l:radius + r]
    np.maximum(region, gg, out=region)


class DetData(torch.utils.data.Dataset):
    def __init__(self, items, num_classes, size, train, mean, std, max_objs=64, stride=4):
        self.items, self.nc, self.size, self.train = items, num_classes, size, train
        self.mean = np.array(mean, np.float32)
        self.std = np.array(std, np.float32)
        self.max_objs, self.stride = max_objs, stride

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        path, boxes = self.items[i]
        rng = np.random.default_rng() if self.train else None
        img = Image.open(path).convert("RGB")
        w, h = img.size
        S = self.size
        s = letterbox_scale(w, h, S)
        if self.train:
            s *= rng.uniform(0.6, 1.3)
        nw, nh = max(1, round(w * s)), max(1, round(h * s))
        img = img.resize((nw, nh), Image.BILINEAR) if (nw, nh) != (w, h) else img
        arr = np.asarray(img, np.float32)
        if self.train:  # colour jitter on the picture only (the letterbox padding stays 0)
            arr = arr * rng.uniform(0.7, 1.3)                               # brightness
            arr = (arr - arr.mean()) * rng.uniform(0.7, 1.3) + arr.mean()   # contrast
            grey = arr.mean(axis=2, keepdims=True)
            arr = (arr - grey) * rng.uniform(0.6, 1.4) + grey               # saturation
            arr = np.clip(arr, 0, 255)
        ox = oy = 0
        if self.train:
            ox = int(rng.integers(min(0, S - nw), max(0, S - nw) + 1))
            oy = int(rng.integers(min(0, S - nh), max(0, S - nh) + 1))
        canvas = np.zeros((S, S, 3), np.float32)
        x0, y0 = max(ox, 0), max(oy, 0)
        x1, y1 = min(ox + nw, S), min(oy + nh, S)
        canvas[y0:y1, x0:x1] = arr[y0 - oy:y1 - oy, x0 - ox:x1 - ox]
        b = boxes.copy()
        b[:, [0, 2]] = b[:, [0, 2]] * (nw / w) + ox
        b[:, [1, 3]] = b[:, [1, 3]] * (nh / h) + oy
        if self.train and rng.random() < 0.5:
            canvas = canvas[:, ::-1]
            b[:, [0, 2]] = S - b[:, [2, 0]]
        vis = b.copy()
        vis[:, :4] = np.clip(vis[:, :4], 0, S)
        x = ((canvas - self.mean) / self.std).transpose(2, 0, 1).copy()

        O = S // self.stride
        hm = np.zeros((self.nc, O, O), np.float32)
        wh = np.zeros((self.max_objs, 2), np.float32)
        reg = np.zeros((self.max_objs, 2), np.float32)
        ind = np.zeros(self.max_objs, np.int64)
        mask = np.zeros(self.max_objs, np.float32)
        k = 0
        for (bx1, by1, bx2, by2, c), orig in zip(vis, b):
            ow, oh = (bx2 - bx1) / self.stride, (by2 - by1) / self.stride
            full = (orig[2] - orig[0]) * (orig[3] - orig[1])
            if ow <= 0.5 or oh <= 0.5 or (bx2 - bx1) * (by2 - by1) < 0.3 * full:
                continue  # (mostly) cut off by the crop
            if k >= self.max_objs:
                break
            radius = max(0, int(gaussian_radius(math.ceil(oh), math.ceil(ow))))
            cx, cy = (bx1 + bx2) / 2 / self.stride, (by1 + by2) / 2 / self.stride
            ci, cj = min(int(cx), O - 1), min(int(cy), O - 1)
            draw_gaussian(hm[int(c)], ci, cj, radius)
            wh[k] = ow, oh
            reg[k] = cx - ci, cy - cj
            ind[k] = cj * O + ci
            mask[k] = 1
            k += 1
        return (torch.from_numpy(x), torch.from_numpy(hm), torch.from_numpy(wh),
                torch.from_numpy(reg), torch.from_numpy(ind), torch.from_numpy(mask))


# ------------------------------------------------------------------------------ loss

def focal_loss(logits, gt):
    """CenterNet's penalty-reduced pixel-wise focal loss (alpha 2, beta 4)."""
    pred = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = gt.eq(1).float()
    neg_w = torch.pow(1 - gt, 4) * (1 - pos)
    pos_loss = (torch.log(pred) * torch.pow(1 - pred, 2) * pos).sum()
    neg_loss = (torch.log(1 - pred) * torch.pow(pred, 2) * neg_w).sum()
    num_pos = pos.sum()
    return -(pos_loss + neg_loss) / num_pos.clamp(min=1)


def reg_l1(out, ind, mask, target):
    B, C = out.shape[:2]
    pred = out.view(B, C, -1).gather(2, ind.unsqueeze(1).expand(B, C, ind.shape[1]))
    pred = pred.permute(0, 2, 1)
    m = mask.unsqueeze(2).expand_as(pred)
    return F.l1_loss(pred * m, target * m, reduction="sum") / (m.sum() + 1e-4)


def losses(outputs, hm, wh, reg, ind, mask):
    o_hm, o_wh, o_reg = outputs
    l_hm = focal_loss(o_hm, hm)
    l_wh = reg_l1(o_wh, ind, mask, wh)
    l_off = reg_l1(o_reg, ind, mask, reg)
    return l_hm + 0.1 * l_wh + l_off, (l_hm.item(), l_wh.item(), l_off.item())


# ------------------------------------------------------------------------------ decoding

def decode(hm, wh, reg, score_threshold, top_k, nms_iou, stride=4, scale=1.0, src_wh=None):
    """Centerscope's `centernet-classic` decoder (src/decode/families.rs, peaks.rs, nms.rs) in
    numpy: logits hm [C,H,W], wh/reg [2,H,W]; peaks = 3x3 local maxima (ties kept) with
    logit >= logit(threshold), best first, top-K; boxes in input pixels, mapped back by the
    letterbox scale and clipped to the source; class-aware greedy NMS (IoU > nms_iou
    suppresses); at most top-K. Returns [(class, score, [x1,y1,x2,y2])]."""
    C, H, W = hm.shape
    t = min(max(score_threshold, 1e-6), 1 - 1e-6)
    thr = np.float32(math.log(t / (1 - t)))
    pad = np.pad(hm, ((0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    mx = np.max(np.stack([pad[:, dy:dy + H, dx:dx + W] for dy in range(3) for dx in range(3)]),
                axis=0)
    c, y, x = np.nonzero((hm >= thr) & (hm >= mx) & ~np.isnan(hm))
    v = hm[c, y, x]
    order = np.lexsort((c, x, y, -v))[:top_k]
    src_w, src_h = src_wh if src_wh else (W * stride / scale, H * stride / scale)
    dets = []
    for k in order:
        cc, yy, xx = int(c[k]), int(y[k]), int(x[k])
        bw, bh = wh[0, yy, xx], wh[1, yy, xx]
        cx, cy = xx + reg[0, yy, xx], yy + reg[1, yy, xx]
        b = np.array([(cx - bw / 2) * stride, (cy - bh / 2) * stride,
                      (cx + bw / 2) * stride, (cy + bh / 2) * stride], np.float32) / scale
        b = np.clip(b, 0, [src_w, src_h, src_w, src_h])
        if not (b[2] > b[0] and b[3] > b[1] and np.isfinite(b).all()):
            continue
        dets.append((cc, float(1 / (1 + math.exp(-float(v[k])))), b.tolist()))
    dets.sort(key=lambda d: -d[1])
    keep = []
    for d in dets:
        if not any(k[0] == d[0] and box_iou(k[2], d[2]) > nms_iou for k in keep):
            keep.append(d)
    return keep[:top_k]


def box_iou(a, b):
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


def preprocess(path, size, mean, std):
    """Centerscope's letterbox: s = min(S/w, S/h), resize to round(w*s) x round(h*s), top-left,
    pad 0 (before normalisation). Identical to Centerscope when the image is already S x S."""
    img = Image.open(path).convert("RGB")
    w, h = img.size
    s = letterbox_scale(w, h, size)
    nw, nh = round(w * s), round(h * s)
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BILINEAR)
    canvas = np.zeros((size, size, 3), np.float32)
    canvas[:nh, :nw] = np.asarray(img, np.float32)
    x = (canvas - np.array(mean, np.float32)) / np.array(std, np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1).copy())[None], s, (w, h)


@torch.no_grad()
def predict(model, paths, size, mean, std, score_threshold, top_k=100, nms_iou=0.5):
    model.eval()
    out = []
    for p in paths:
        x, s, wh = preprocess(p, size, mean, std)
        hm, bwh, reg = (t[0].numpy() for t in model(x))
        out.append(decode(hm, bwh, reg, score_threshold, top_k, nms_iou, scale=s, src_wh=wh))
    return out


def average_precision(dets, gts, num_classes, iou_thr=0.5):
    """VOC-style (all-point interpolated) AP per class at IoU 0.5, mean over classes with
    ground truth. dets[i] = [(cls, score, box)], gts[i] = array [N,5] (x1,y1,x2,y2,cls)."""
    aps = []
    for c in range(num_classes):
        n_gt = sum(int((g[:, 4] == c).sum()) for g in gts)
        if n_gt == 0:
            continue
        cand = [(s, i, b) for i, d in enumerate(dets) for (cc, s, b) in d if cc == c]
        cand.sort(key=lambda t: -t[0])
        used = [np.zeros(int((g[:, 4] == c).sum()), bool) for g in gts]
        tp = np.zeros(len(cand))
        for k, (s, i, b) in enumerate(cand):
            g = gts[i][gts[i][:, 4] == c]
            if len(g) == 0:
                continue
            ious = np.array([box_iou(b, gg[:4]) for gg in g])
            j = int(ious.argmax())
            if ious[j] >= iou_thr and not used[i][j]:
                used[i][j] = True
                tp[k] = 1
        if len(cand) == 0:
            aps.append(0.0)
            continue
        ctp = np.cumsum(tp)
        rec = ctp / n_gt
        prec = ctp / np.arange(1, len(cand) + 1)
        mrec = np.concatenate([[0], rec, [1]])
        mpre = np.concatenate([[0], prec, [0]])
        for k in range(len(mpre) - 2, -1, -1):
            mpre[k] = max(mpre[k], mpre[k + 1])
        idx = np.where(mrec[1:] != mrec[:-1])[0]
        aps.append(float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1])))
    return float(np.mean(aps)) if aps else 0.0


# ------------------------------------------------------------------------------ Centerscope

def centerscope_check(binary, manifest_path, paths, torch_dets, labels):
    """Run `centerscope detect` on the images and match its boxes to PyTorch's decoding:
    returns the number of boxes on each side, how many PyTorch boxes have a same-class
    Centerscope box with IoU > 0.95, the smallest best-IoU and the largest score difference."""
    with tempfile.TemporaryDirectory() as d:
        for k, p in enumerate(paths):
            os.symlink(os.path.abspath(p), os.path.join(d, f"{k:06d}{os.path.splitext(p)[1]}"))
        out = os.path.join(d, "out.jsonl")
        t0 = time.time()
        subprocess.run([binary, "detect", d, "--model", manifest_path, "--output", out],
                       check=True, capture_output=True, text=True)
        secs = time.time() - t0
        recs = [json.loads(l) for l in open(out)]
    assert len(recs) == len(paths), (len(recs), len(paths))
    n_t = n_c = matched = 0
    worst_iou, worst_ds = 1.0, 0.0
    for rec, td in zip(recs, torch_dets):
        cd = rec["detections"]
        n_t += len(td)
        n_c += len(cd)
        for c, s, b in td:
            best, ds = 0.0, 1.0
            for e in cd:
                if e["label"] == labels[c]:
                    i = box_iou(b, e["box"])
                    if i > best:
                        best, ds = i, abs(e["score"] - s)
            worst_iou = min(worst_iou, best)
            worst_ds = max(worst_ds, ds if best > 0 else 1.0)
            matched += best > 0.95
    return {"images": len(paths), "torch_boxes": n_t, "centerscope_boxes": n_c,
            "matched_iou_gt_0.95": matched, "min_best_iou": round(worst_iou, 4),
            "max_score_diff": round(worst_ds, 4), "centerscope_seconds": round(secs, 2)}


# ------------------------------------------------------------------------------ init

def init_from_centerface(backbone, onnx_path, mean, std):
    """Copy the MobileNetV2 backbone out of CenterFace's ONNX file (models/centerface.onnx: a
    width-1.0 paper MobileNetV2 up to the 320-channel bottleneck, BN folded into conv + bias,
    fed raw RGB 0..255) into `backbone` (MobileNetV2(1.0)): the first 51 convolutions, in
    order. Each BN becomes the identity plus the folded bias; the stem absorbs our input
    normalisation (x_raw = x * std + mean). Returns the number of convolutions copied."""
    import onnx
    from onnx import numpy_helper
    m = onnx.load(onnx_path)
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    src = [(init[n.input[1]], init[n.input[2]] if len(n.input) > 2 else None)
           for n in m.graph.node if n.op_type == "Conv"]
    dst = [(mod, bn) for mod, bn in zip(*[iter([x for x in backbone.modules()
                                                 if isinstance(x, (torch.nn.Conv2d,
                                                                   torch.nn.BatchNorm2d))])] * 2)]
    for k, ((conv, bn), (w, b)) in enumerate(zip(dst, src)):
        assert isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d)
        if tuple(conv.weight.shape) != w.shape:
            raise ValueError(f"conv {k}: {tuple(conv.weight.shape)} vs CenterFace {w.shape}")
        w = torch.from_numpy(w.copy())
        b = torch.zeros(w.shape[0]) if b is None else torch.from_numpy(b.copy())
        if k == 0:
            st = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)
            mu = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
            b = b + (w * mu).sum(dim=(1, 2, 3))
            w = w * st
        with torch.no_grad():
            conv.weight.copy_(w)
            bn.weight.fill_(1.0)
            bn.bias.copy_(b)
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
    return len(dst)


# ------------------------------------------------------------------------------ fixture

def write_fixture(out, mid, onnx_path, man_path, val_items, idx, torch_dets, labels):
    """Model + manifest + a few validation images + expected.json (their ground truth and the
    detections PyTorch decodes at the manifest's threshold), for tests/integration/seed.rs."""
    import shutil
    os.makedirs(out, exist_ok=True)
    shutil.copy(onnx_path, os.path.join(out, mid + ".onnx"))
    shutil.copy(man_path, os.path.join(out, mid + ".json"))
    exp = {"model": mid + ".json", "images": []}
    for i in idx:
        path, gt = val_items[i]
        name = os.path.basename(path)
        shutil.copy(path, os.path.join(out, name))
        exp["images"].append({
            "file": name,
            "ground_truth": [{"label": labels[int(g[4])], "box": [round(float(v), 2) for v in g[:4]]}
                             for g in gt],
            "pytorch": [{"label": labels[c], "score": round(sc, 4),
                         "box": [round(float(v), 2) for v in b]} for c, sc, b in torch_dets[i]],
        })
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(exp, f, indent=1)
        f.write("\n")


# ------------------------------------------------------------------------------ main

def plot(hist, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    it = np.arange(len(hist["iter_loss"]))
    ax.plot(it, hist["iter_loss"], color="#9ab", lw=0.6, label="train loss (batch)")
    k = max(1, len(it) // 50)
    sm_ = np.convolve(hist["iter_loss"], np.ones(k) / k, mode="valid")
    ax.plot(it[k - 1:], sm_, color="#146", lw=1.5, label=f"train loss ({k}-batch mean)")
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("loss (focal + 0.1 L1 size + L1 offset)")
    ax2 = ax.twinx()
    ep_it = [(e + 1) * hist["iters_per_epoch"] for e in range(len(hist["val_map50"]))]
    ax2.plot(ep_it, hist["val_map50"], "o-", color="#c40", label="val mAP@0.5")
    ax2.set_ylim(0, 1)
    ax2.set_ylabel("val mAP@0.5")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="center right", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--format", choices=["coco", "yolo"], default="coco")
    ap.add_argument("--out", required=True)
    ap.add_argument("--id", default="mobilenetv2-centernet-custom")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--neck", default="128,64,64")
    ap.add_argument("--head-conv", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--workers", type=int, default=0, help="DataLoader worker processes")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-train", type=int, default=0, help="use only the first N images")
    ap.add_argument("--score-threshold", type=float, default=0.3)
    ap.add_argument("--centerscope", default=None, help="binary: check its boxes on val")
    ap.add_argument("--load", default=None, help="start from a saved state dict (.pt)")
    ap.add_argument("--init", choices=["random", "centerface"], default="random",
                    help="backbone init: random, or the MobileNetV2 inside CenterFace's ONNX "
                         "(models/centerface.onnx; needs --width 1.0)")
    ap.add_argument("--fixture", default=None,
                    help="also write a test fixture here: model, manifest, --fixture-images "
                         "and expected.json (ground truth + PyTorch's decoding)")
    ap.add_argument("--fixture-images", default="auto",
                    help="val image indices for --fixture, or `auto`: the first two with at "
                         "least two objects that PyTorch finds exactly (IoU > 0.7, no extra box)")
    a = ap.parse_args(argv)

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    np.random.seed(a.seed)
    os.makedirs(a.out, exist_ok=True)
    load = load_coco if a.format == "coco" else load_yolo
    train_items, labels = load(a.data, "train")
    val_items, _ = load(a.data, "val")
    if a.max_train:
        train_items = train_items[:a.max_train]
    nc = len(labels)
    mean, std = sm.IMAGENET_MEAN, sm.IMAGENET_STD
    neck = tuple(int(v) for v in a.neck.split(","))
    model = sm.MobileCenterNet("mobilenetv2", nc, a.width, neck, a.head_conv,
                               act=torch.nn.ReLU if a.init == "centerface" else torch.nn.ReLU6)
    if a.init == "centerface":
        n = init_from_centerface(model.backbone, os.path.join(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "models",
            "centerface.onnx"), mean, std)
        print(f"backbone: {n} convolutions from models/centerface.onnx", flush=True)
    if a.load:
        model.load_state_dict(torch.load(a.load))
    print(f"{a.id}: {sm.count_params_torch(model)} parameters, {nc} classes, "
          f"{len(train_items)} train / {len(val_items)} val images", flush=True)
    ds = DetData(train_items, nc, a.size, True, mean, std)
    dl = torch.utils.data.DataLoader(ds, batch_size=a.batch, shuffle=True, drop_last=True,
                                     num_workers=a.workers,
                                     generator=torch.Generator().manual_seed(a.seed))
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    total = a.epochs * len(dl)
    warm = max(1, min(200, total // 10))  # linear warm-up, then cosine decay to 2 %

    def lr_at(step):
        if step < warm:
            return (step + 1) / warm
        return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_at)
    hist = {"iter_loss": [], "epoch_loss": [], "epoch_parts": [], "val_map50": [],
            "iters_per_epoch": len(dl), "epoch_seconds": []}
    val_paths = [p for p, _ in val_items]
    val_gts = [b for _, b in val_items]
    for ep in range(a.epochs):
        model.train()
        t0 = time.time()
        parts = np.zeros(3)
        for x, hm, wh, reg, ind, mask in dl:
            loss, p = losses(model(x), hm, wh, reg, ind, mask)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            hist["iter_loss"].append(loss.item())
            parts += p
            if len(hist["iter_loss"]) % 10 == 0:
                print(f"  iter {len(hist['iter_loss'])}/{total} loss {loss.item():.3f} "
                      f"({time.time() - t0:.0f} s into epoch)", flush=True)
        dt = time.time() - t0
        ep_loss = float(np.mean(hist["iter_loss"][-len(dl):]))
        dets = predict(model, val_paths, a.size, mean, std, 0.01)
        m = average_precision(dets, val_gts, nc)
        hist["epoch_loss"].append(ep_loss)
        hist["epoch_parts"].append((parts / len(dl)).round(4).tolist())
        hist["val_map50"].append(m)
        hist["epoch_seconds"].append(round(dt, 1))
        print(f"epoch {ep + 1:3d}/{a.epochs}  loss {ep_loss:.3f} (hm {parts[0] / len(dl):.3f} "
              f"wh {parts[1] / len(dl):.3f} off {parts[2] / len(dl):.3f})  val mAP@0.5 {m:.3f}"
              f"  {dt:.0f} s", flush=True)

    model.eval()
    final_map = (hist["val_map50"][-1] if hist["val_map50"] else
                 average_precision(predict(model, val_paths, a.size, mean, std, 0.01), val_gts, nc))
    onnx_path = os.path.join(a.out, a.id + ".onnx")
    sm.export_onnx(model, onnx_path, a.size)
    import onnx
    proto = onnx.load(onnx_path)
    onnx.checker.check_model(proto)
    trained_epochs = a.epochs
    prev = os.path.splitext(a.load)[0] + "-train.json" if a.load else None
    if prev and os.path.exists(prev):  # --load: count the epochs of the run that saved it
        trained_epochs += json.load(open(prev))["epochs"]
    desc = (f"MobileNetV2 CenterNet (width {a.width}, neck {a.neck}, head_conv {a.head_conv}) "
            f"trained by tools/train_centernet.py on {os.path.basename(os.path.abspath(a.data))} "
            f"for {trained_epochs} epochs: val mAP@0.5 {final_map:.3f}")
    man = sm.manifest(a.id, a.id + ".onnx", a.size, labels, desc,
                      weights=f"trained: {os.path.basename(os.path.abspath(a.data))}",
                      score=a.score_threshold, params=sm.onnx_params(proto),
                      macs=sm.onnx_macs(onnx_path), origin="tools/train_centernet.py")
    man["name"] = f"{a.id} (trained)"
    man_path = os.path.join(a.out, a.id + ".json")
    with open(man_path, "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    torch.save(model.state_dict(), os.path.join(a.out, a.id + ".pt"))

    # onnxruntime vs PyTorch on the exported graph, then the final numbers
    import onnxruntime as ort
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    x, _, _ = preprocess(val_paths[0], a.size, mean, std)
    with torch.no_grad():
        ref = [t.numpy() for t in model(x)]
    got = sess.run(None, {"input": x.numpy()})
    ort_diff = max(float(np.abs(r - g).max()) for r, g in zip(ref, got))
    final = predict(model, val_paths, a.size, mean, std, a.score_threshold)
    res = {"id": a.id, "params": man["params"], "macs": man["macs"],
           "onnx_bytes": os.path.getsize(onnx_path), "size": a.size, "width": a.width,
           "neck": a.neck, "head_conv": a.head_conv, "epochs": a.epochs, "batch": a.batch,
           "lr": a.lr, "threads": a.threads, "train_images": len(train_items),
           "val_images": len(val_items), "val_map50": hist["val_map50"],
           "final_val_map50": final_map,
           "epoch_loss": hist["epoch_loss"], "epoch_parts_hm_wh_off": hist["epoch_parts"],
           "iter_loss": [round(v, 4) for v in hist["iter_loss"]],
           "epoch_seconds": hist["epoch_seconds"], "ort_max_abs_diff": ort_diff,
           "torch": torch.__version__}
    if a.centerscope:
        res["centerscope_check"] = centerscope_check(a.centerscope, man_path, val_paths, final,
                                                     labels)
    if a.fixture:
        if a.fixture_images == "auto":
            # pictures PyTorch gets exactly right (every object IoU > 0.5, no extra box), no
            # score within 0.03 of the threshold (so float differences cannot flip a box),
            # most classes first
            low = predict(model, val_paths, a.size, mean, std, a.score_threshold - 0.03)
            ok = []
            for i, ((_, g), d, dl_) in enumerate(zip(val_items, final, low)):
                if (len(d) == len(g) == len(dl_) and all(sc >= a.score_threshold + 0.03
                                                         for _, sc, _ in d)
                        and all(any(c == int(gg[4]) and box_iou(b, gg[:4]) > 0.5
                                    for c, _, b in d) for gg in g)):
                    ok.append(i)
            ok.sort(key=lambda i: (-len(set(val_items[i][1][:, 4].tolist())),
                                   -len(val_items[i][1]), i))
            idx, seen = [], set()
            for i in ok:
                cls = set(val_items[i][1][:, 4].tolist())
                if not idx or cls - seen:
                    idx.append(i)
                    seen |= cls
                if len(idx) == 2:
                    break
            if len(idx) < 2:
                idx += [i for i in ok if i not in idx][:2 - len(idx)]
            print(f"fixture pictures: {[os.path.basename(val_paths[i]) for i in idx]} "
                  f"({len(ok)} candidates)", flush=True)
        else:
            idx = [int(v) for v in a.fixture_images.split(",")]
        write_fixture(a.fixture, a.id, onnx_path, man_path, val_items, idx, final, labels)
    if not hist["iter_loss"]:
        print(json.dumps(res))
        return res
    with open(os.path.join(a.out, a.id + "-train.json"), "w") as f:
        json.dump(res, f, indent=1)
    plot(hist, os.path.join(a.out, a.id + "-loss.png"),
         f"{a.id}: {len(train_items)} synthetic images, {a.size}x{a.size}, batch {a.batch}, "
         f"Adam {a.lr}, CPU {a.threads} threads")
    print(json.dumps({k: v for k, v in res.items() if k not in (
        "epoch_loss", "epoch_parts_hm_wh_off", "iter_loss")}))
    return res


if __name__ == "__main__":
    main()
