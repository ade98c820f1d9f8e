#!/usr/bin/env python3
"""Write a tiny ONNX model with the classic xingyizhou/CenterNet heads (`hm` logits, `wh`, `reg`,
NCHW, output stride 4) and its manifest, for testing that such a model loads and decodes with a
manifest alone. The weights are set by hand so the answer is known: class 0 ("red") fires on
red regions, class 1 ("blue") on blue ones; every box is 5x5 output cells (20 px) with a
half-cell offset. A 20x20 red square at (40,40) in a 128x128 picture must come out as
[40, 40, 60, 60].

Usage: python tools/make_classic_fixture.py tests/fixtures/classic
"""
import json
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/classic")
out.mkdir(parents=True, exist_ok=True)

# hm logits: 8 * (own - other two) / 255 - 4, then two 3x3 box blurs to make one peak per blob.
w_hm = np.array([[1, -1, -1], [-1, -1, 1]], dtype=np.float32) * (8.0 / 255.0)
b_hm = np.array([-4.0, -4.0], dtype=np.float32)
inits = [
    numpy_helper.from_array(w_hm.reshape(2, 3, 1, 1), "w_hm"),
    numpy_helper.from_array(b_hm, "b_hm"),
    numpy_helper.from_array(np.zeros((2, 3, 1, 1), np.float32), "w_zero"),
    numpy_helper.from_array(np.array([5.0, 5.0], np.float32), "b_wh"),
    numpy_helper.from_array(np.array([0.5, 0.5], np.float32), "b_reg"),
]
nodes = [
    helper.make_node("AveragePool", ["input"], ["down"], kernel_shape=[4, 4], strides=[4, 4]),
    helper.make_node("Conv", ["down", "w_hm", "b_hm"], ["hm0"]),
    helper.make_node("AveragePool", ["hm0"], ["hm1"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0),
    helper.make_node("AveragePool", ["hm1"], ["hm"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1], count_include_pad=0),
    helper.make_node("Conv", ["down", "w_zero", "b_wh"], ["wh"]),
    helper.make_node("Conv", ["down", "w_zero", "b_reg"], ["reg"]),
]
graph = helper.make_graph(
    nodes,
    "tiny-centernet",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 128, 128])],
    [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 32, 32]) for n in ("hm", "wh", "reg")],
    initializer=inits,
)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="centerscope-tools")
model.ir_version = 8
onnx.checker.check_model(model, full_check=True)
onnx.save(model, out / "tiny-centernet.onnx")

manifest = {
    "id": "tiny-centernet",
    "name": "Tiny classic CenterNet (test fixture)",
    "task": "red and blue blobs",
    "family": "centernet-classic",
    "file": "tiny-centernet.onnx",
    "input": {"name": "input", "layout": "nchw", "dtype": "f32", "resize": "letterbox", "size": [128, 128]},
    "outputs": {"heatmap": "hm", "wh": "wh", "offset": "reg"},
    "labels": ["red", "blue"],
    "defaults": {"score_threshold": 0.5, "nms_iou": 0.5, "top_k": 10},
    "origin": "tools/make_classic_fixture.py (hand-set weights)",
    "license": "MIT",
}
(out / "tiny-centernet.json").write_text(json.dumps(manifest, indent=2) + "\n")
print("wrote", out / "tiny-centernet.onnx", out / "tiny-centernet.json")

# A second file for the reliability tests: the same heads behind a valid-padded (no padding)
# 5x5 convolution. At 128x128 it works; at a 4x4 input the convolution leaves an empty
# feature map, which Centerscope must refuse with a message rather than run.
valid_nodes = [
    helper.make_node("Conv", ["input", "w_valid"], ["shrunk"], kernel_shape=[5, 5]),
    helper.make_node("Pad", ["shrunk", "pads"], ["padded"], mode="edge"),
] + [
    helper.make_node(n.op_type, ["padded" if i == "input" else i for i in n.input], list(n.output),
                     **{a.name: helper.get_attribute_value(a) for a in n.attribute})
    for n in nodes
]
w_valid = np.zeros((3, 3, 5, 5), np.float32)
for c in range(3):
    w_valid[c, c, 2, 2] = 1.0  # identity on the centre tap
valid_graph = helper.make_graph(
    valid_nodes,
    "valid-conv-centernet",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 128, 128])],
    [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 2, 32, 32]) for n in ("hm", "wh", "reg")],
    initializer=inits + [
        numpy_helper.from_array(w_valid, "w_valid"),
        numpy_helper.from_array(np.array([0, 0, 2, 2, 0, 0, 2, 2], np.int64), "pads"),
    ],
)
valid = helper.make_model(valid_graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="centerscope-tools")
valid.ir_version = 8
onnx.checker.check_model(valid, full_check=True)
onnx.save(valid, out / "valid-conv.onnx")
print("wrote", out / "valid-conv.onnx")
