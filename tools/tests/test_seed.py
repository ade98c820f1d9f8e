"""Cheap tests of the issue-15 tools (seconds on a CPU):
    /work/venv-seed/bin/python -m pytest tools/tests -q
"""
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

TOOLS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, TOOLS)
import make_seed_dataset  # noqa: E402
import seed_models as sm  # noqa: E402
import train_centernet as tc  # noqa: E402

torch.set_num_threads(1)


def test_as_published_matches_the_write_ups_size_claims():
    m = sm.PublishedMobileNetV2CenterNet()
    n = sm.count_params_torch(m)
    assert 4.25e6 < n < 4.35e6, n  # the write-up: 4.3 M
    # n + 1 blocks per stage: 1 + sum(n + 1) bottlenecks
    blocks = [b for b in m.features if isinstance(b, sm._PublishedBottleneck)]
    assert len(blocks) == sum(c[2] + 1 for c in m.CFG)
    m.eval()
    with torch.no_grad():
        hm, wh, reg = m(torch.zeros(1, 3, 256, 256))
    # 8x8x1280 reshaped into 20x64x64: an output of the right size, not an upsampling
    assert hm.shape == (1, 80, 64, 64) and wh.shape == (1, 2, 64, 64)


def test_paper_mobilenetv2_has_the_papers_blocks_and_shortcuts():
    b = sm.MobileNetV2(1.0)
    assert len(b.blocks) == 17
    assert sum(blk.use_res for blk in b.blocks) == 10  # stride 1 and equal channels only
    assert b.tap_channels == [24, 32, 96, 320]
    # no non-linearity after the projection (linear bottleneck)
    assert not isinstance(b.blocks[3].conv[-1][-1], torch.nn.ReLU6)


@pytest.mark.parametrize("backbone", ["mobilenetv2", "mobilenetv1"])
def test_centernet_outputs_are_at_stride_4(backbone):
    m = sm.MobileCenterNet(backbone, 3, 0.25, (16, 16, 16), 16).eval()
    with torch.no_grad():
        hm, wh, reg = m(torch.zeros(1, 3, 64, 64))
    assert hm.shape == (1, 3, 16, 16) and wh.shape == (1, 2, 16, 16) and reg.shape == wh.shape


def test_gaussian_target_peaks_at_the_centre():
    hm = np.zeros((16, 16), np.float32)
    r = int(tc.gaussian_radius(4, 4))
    tc.draw_gaussian(hm, 5, 7, r)
    assert hm[7, 5] == 1.0 and hm.max() == 1.0 and 0 < hm[7, 6] < 1
    tc.draw_gaussian(hm, 0, 0, 3)  # clipped at the border
    assert hm[0, 0] == 1.0


def test_focal_loss_is_small_for_a_good_prediction():
    gt = torch.zeros(1, 1, 8, 8)
    gt[0, 0, 3, 4] = 1
    good = torch.full_like(gt, -9.0)
    good[0, 0, 3, 4] = 9.0
    bad = -good
    assert tc.focal_loss(good, gt) < 1e-3 < tc.focal_loss(bad, gt)


def test_decode_is_centerscopes_classic_decoder():
    hm = np.full((2, 8, 8), -10.0, np.float32)
    hm[1, 3, 4] = 2.0   # class 1 peak
    hm[1, 3, 5] = 1.0   # neighbour: not a peak
    hm[0, 6, 6] = -3.0  # below the threshold (sigmoid(-3) = 0.047)
    wh = np.zeros((2, 8, 8), np.float32)
    wh[:, 3, 4] = [2.0, 4.0]
    reg = np.zeros((2, 8, 8), np.float32)
    reg[:, 3, 4] = [0.5, 0.25]
    dets = tc.decode(hm, wh, reg, 0.3, 10, 0.5, stride=4, scale=0.5, src_wh=(64, 64))
    assert len(dets) == 1
    c, s, b = dets[0]
    assert c == 1 and abs(s - 1 / (1 + np.exp(-2))) < 1e-6
    # centre (4.5, 3.25) cells, size 2x4 cells, stride 4, then / scale 0.5
    np.testing.assert_allclose(b, [28.0, 10.0, 44.0, 42.0], atol=1e-5)


def test_average_precision_perfect_and_empty():
    gt = [np.array([[0, 0, 10, 10, 0], [20, 20, 30, 30, 1]], np.float32)]
    perfect = [[(0, 0.9, [0, 0, 10, 10]), (1, 0.8, [20, 20, 30, 30])]]
    assert tc.average_precision(perfect, gt, 2) == pytest.approx(1.0)
    assert tc.average_precision([[]], gt, 2) == 0.0


def test_dataset_formats_agree_and_targets_build(tmp_path):
    subprocess.run([sys.executable, os.path.join(TOOLS, "make_seed_dataset.py"), "--out",
                    str(tmp_path), "--train", "3", "--val", "2", "--size", "64", "--format",
                    "both"], check=True, capture_output=True)
    coco, labels = tc.load_coco(str(tmp_path), "train")
    yolo, labels2 = tc.load_yolo(str(tmp_path), "train")
    assert labels == labels2 == make_seed_dataset.CLASSES
    for (p1, b1), (p2, b2) in zip(coco, yolo):
        assert p1 == p2
        np.testing.assert_allclose(b1, b2, atol=0.02)
    ds = tc.DetData(coco, 3, 64, False, sm.IMAGENET_MEAN, sm.IMAGENET_STD)
    x, hm, wh, reg, ind, mask = ds[0]
    assert x.shape == (3, 64, 64) and hm.shape == (3, 16, 16)
    assert int(mask.sum()) == len(coco[0][1]) and float(hm.max()) == 1.0
    ds.train = True
    ds[0]  # augmentation path runs


def test_onnx_export_matches_pytorch(tmp_path):
    import onnxruntime as ort
    m = sm.MobileCenterNet("mobilenetv2", 3, 0.25, (16, 16, 16), 16)
    sm.calibrate_bn(m, 64, batches=1)
    path = str(tmp_path / "m.onnx")
    sm.export_onnx(m, path, 64)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        ref = [t.numpy() for t in m(x)]
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(
        None, {"input": x.numpy()})
    for r, g in zip(ref, got):
        np.testing.assert_allclose(r, g, atol=1e-4, rtol=1e-4)
    man = sm.manifest("m", "m.onnx", 64, ["a", "b", "c"], "test", params=sm.onnx_params(
        __import__("onnx").load(path)), macs=sm.onnx_macs(path))
    assert man["family"] == "centernet-classic" and man["macs"] > 0
    json.dumps(man)
