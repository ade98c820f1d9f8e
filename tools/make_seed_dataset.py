#!/usr/bin/env python3
"""A small synthetic detection dataset for tools/train_centernet.py (issue 15): coloured
circles, squares and triangles composited onto varied backgrounds (gradients, noise, stripes,
checkerboards, clutter lines), with their boxes, in COCO format (and optionally YOLO txt).

  python tools/make_seed_dataset.py --out DIR [--train 2000] [--val 200] [--size 128] [--seed 0]
                                    [--format coco|yolo|both]

COCO layout: DIR/train/*.png, DIR/val/*.png, DIR/annotations/instances_{train,val}.json.
YOLO layout: DIR/{train,val}/*.png + DIR/{train,val}/*.txt ("cls cx cy w h", normalised) and
DIR/classes.txt. Deterministic for a given seed. Objects overlap by at most IoU 0.2, and
distractors (lines, thin rings, blobs of the background colours) are not labelled.
"""
import argparse
import json
import math
import os

import numpy as np
from PIL import Image, ImageDraw

CLASSES = ["circle", "square", "triangle"]


def background(rng, s):
    kind = rng.integers(0, 5)
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s
    c1, c2 = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    if kind == 0:  # linear gradient
        a = rng.uniform(0, 2 * math.pi)
        t = (np.cos(a) * xx + np.sin(a) * yy)
        t = (t - t.min()) / (t.max() - t.min() + 1e-6)
        img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    elif kind == 1:  # smooth noise
        g = rng.uniform(0, 255, (4, 4, 3)).astype(np.uint8)
        img = np.asarray(Image.fromarray(g).resize((s, s), Image.BICUBIC), np.float32)
    elif kind == 2:  # stripes
        period = rng.uniform(6, 30)
        a = rng.uniform(0, math.pi)
        t = (np.sin((np.cos(a) * xx + np.sin(a) * yy) * s / period * 2 * math.pi) > 0)
        img = np.where(t[..., None], c1, c2)
    elif kind == 3:  # checkerboard
        k = int(rng.integers(6, 24))
        t = ((np.arange(s)[:, None] // k + np.arange(s)[None, :] // k) % 2).astype(bool)
        img = np.where(t[..., None], c1, c2)
    else:  # flat
        img = np.broadcast_to(c1, (s, s, 3)).copy()
    img = img + rng.normal(0, rng.uniform(0, 12), (s, s, 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def iou(a, b):
    ix = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    i = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - i
    return i / u if u > 0 else 0.0


def distractors(rng, draw, s):
    for _ in range(int(rng.integers(0, 4))):
        col = tuple(int(v) for v in rng.uniform(0, 255, 3))
        p = [tuple(rng.uniform(0, s, 2)) for _ in range(2)]
        draw.line(p[0] + p[1], fill=col, width=int(rng.integers(1, 3)))


def make_image(rng, s, min_obj, max_obj, max_n):
    img = background(rng, s)
    draw = ImageDraw.Draw(img)
    distractors(rng, draw, s)
    boxes = []
    n = int(rng.integers(1, max_n + 1))
    for _ in range(n * 4):
        if len(boxes) >= n:
            break
        cls = int(rng.integers(0, len(CLASSES)))
        w = float(rng.uniform(min_obj, max_obj))
        h = w if cls != 1 else w * float(rng.uniform(0.6, 1.0))  # squares may be rectangles
        if rng.random() < 0.5 and cls == 1:
            w, h = h, w
        x0, y0 = float(rng.uniform(0, s - w)), float(rng.uniform(0, s - h))
        b = [x0, y0, x0 + w, y0 + h]
        if any(iou(b, o[1]) > 0.2 for o in boxes):
            continue
        col = tuple(int(v) for v in rng.uniform(0, 255, 3))
        outline = tuple(255 - v for v in col) if rng.random() < 0.5 else None
        if cls == 0:
            draw.ellipse(b, fill=col, outline=outline)
        elif cls == 1:
            draw.rectangle(b, fill=col, outline=outline)
        else:
            draw.polygon([(x0 + w / 2, y0), (x0 + w, y0 + h), (x0, y0 + h)], fill=col,
                         outline=outline)
        boxes.append((cls, b))
    return img, boxes


def write_split(rng, out, split, count, s, fmt, min_obj, max_obj, max_n):
    d = os.path.join(out, split)
    os.makedirs(d, exist_ok=True)
    images, anns = [], []
    for i in range(count):
        img, boxes = make_image(rng, s, min_obj, max_obj, max_n)
        name = f"{split}_{i:05d}.png"
        img.save(os.path.join(d, name))
        images.append({"id": i + 1, "file_name": name, "width": s, "height": s})
        for cls, b in boxes:
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": cls + 1,
                         "bbox": [round(b[0], 2), round(b[1], 2), round(b[2] - b[0], 2),
                                  round(b[3] - b[1], 2)],
                         "area": round((b[2] - b[0]) * (b[3] - b[1]), 2), "iscrowd": 0})
        if fmt in ("yolo", "both"):
            with open(os.path.join(d, name[:-4] + ".txt"), "w") as f:
                for cls, b in boxes:
                    f.write(f"{cls} {(b[0] + b[2]) / 2 / s:.6f} {(b[1] + b[3]) / 2 / s:.6f} "
                            f"{(b[2] - b[0]) / s:.6f} {(b[3] - b[1]) / s:.6f}\n")
    if fmt in ("coco", "both"):
        os.makedirs(os.path.join(out, "annotations"), exist_ok=True)
        coco = {"images": images, "annotations": anns,
                "categories": [{"id": k + 1, "name": n} for k, n in enumerate(CLASSES)]}
        with open(os.path.join(out, "annotations", f"instances_{split}.json"), "w") as f:
            json.dump(coco, f)
    return len(anns)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--val", type=int, default=200)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--format", choices=["coco", "yolo", "both"], default="coco")
    ap.add_argument("--max-objects", type=int, default=4)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    min_obj, max_obj = a.size * 0.1, a.size * 0.4
    if a.format in ("yolo", "both"):
        os.makedirs(a.out, exist_ok=True)
        with open(os.path.join(a.out, "classes.txt"), "w") as f:
            f.write("\n".join(CLASSES) + "\n")
    for split, n in (("train", a.train), ("val", a.val)):
        k = write_split(rng, a.out, split, n, a.size, a.format, min_obj, max_obj, a.max_objects)
        print(f"{split}: {n} images, {k} objects")


if __name__ == "__main__":
    main()
