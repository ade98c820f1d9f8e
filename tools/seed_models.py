#!/usr/bin/env python3
"""The models of issue 15 ("the MobileNetV2-CenterNet write-up"), built in PyTorch and exported
to ONNX with a `centernet-classic` manifest each, random weights.

  python tools/seed_models.py --out DIR [--models a,b] [--size 512]

Writes DIR/<id>.onnx and DIR/<id>.json for
  seed-mobilenetv2-as-published  the write-up's MobileNetV2 code as published, bugs included
  mobilenetv2-centernet          paper MobileNetV2 (Sandler et al. 2018) + stride-4 neck + heads
  mobilenetv1-centernet          MobileNetV1 (Howard et al. 2017), same neck and heads
  dla34-centernet                CenterNet's DLASeg (DLA-34 + DLAUp/IDAUp), DCN -> plain 3x3 conv

Every model takes `input` [1,3,S,S] (RGB, normalised with the ImageNet mean/std, given in the
manifest so Centerscope does it) and returns `hm` (logits, 80 classes) / `wh` / `reg` at stride 4.
The network definitions are also used by tools/train_centernet.py and tools/bench_seed.py.
"""
import argparse
import copy
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

COCO_LABELS = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier",
]
IMAGENET_MEAN = [123.675, 116.28, 103.53]
IMAGENET_STD = [58.395, 57.12, 57.375]
HM_BIAS = -2.19  # CenterNet's prior: sigmoid(-2.19) = 0.1

MODEL_IDS = ["seed-mobilenetv2-as-published", "mobilenetv2-centernet",
             "mobilenetv1-centernet", "dla34-centernet"]


def _div(v, d=8):
    """Channel rounding of the MobileNet reference code (torchvision's _make_divisible)."""
    n = max(d, int(v + d / 2) // d * d)
    return n + d if n < 0.9 * v else n


def conv_bn(ci, co, k=3, s=1, groups=1, act=nn.ReLU6):
    layers = [nn.Conv2d(ci, co, k, s, k // 2, groups=groups, bias=False), nn.BatchNorm2d(co)]
    if act is not None:
        layers.append(act(inplace=True))
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------------------
# The write-up's MobileNetV2, as published (the bugs are the point: do not fix them here)

class _PublishedBottleneck(nn.Module):
    def __init__(self, ci, co, s, t):
        super().__init__()
        h = ci * t
        self.stride = s
        self.conv = nn.Sequential(conv_bn(ci, h, 1), conv_bn(h, h, 3, s, groups=h),
                                  conv_bn(h, co, 1, act=None))
        # BUG (as published): a 1x1 conv + BN "projection" shortcut on every stride-1 block,
        # also where in == out channels and the paper adds the identity.
        self.shortcut = conv_bn(ci, co, 1, act=None)

    def forward(self, x):
        out = self.conv(x)
        if self.stride == 1:
            out = out + self.shortcut(x)
        return out


class PublishedMobileNetV2CenterNet(nn.Module):
    """Reconstructed from the write-up's description (issue 15): the t/c/n/s table with
    `make_layer` appending `n` blocks after the first (n+1 per stage), projection shortcuts,
    the 16x16x1280 map `view`ed into 20x128x128 and 1x1 heads on those 20 channels."""
    CFG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, num_classes=80):
        super().__init__()
        layers = [conv_bn(3, 32, 3, 2)]
        ci = 32
        for t, c, n, s in self.CFG:
            layers += self.make_layer(ci, c, t, n, s)
            ci = c
        layers.append(conv_bn(ci, 1280, 1))
        self.features = nn.Sequential(*layers)
        self.hm = nn.Conv2d(20, num_classes, 1)
        self.wh = nn.Conv2d(20, 2, 1)
        self.reg = nn.Conv2d(20, 2, 1)
        self.hm.bias.data.fill_(HM_BIAS)

    @staticmethod
    def make_layer(ci, co, t, n, s):
        layers = [_PublishedBottleneck(ci, co, s, t)]
        for _ in range(n):  # BUG (as published): n more blocks after the first one
            layers.append(_PublishedBottleneck(co, co, 1, t))
        return layers

    def forward(self, x):
        f = self.features(x)  # [1, 1280, S/32, S/32]
        b = f.shape[0]
        # BUG (as published): a reshape, not an upsampling: 1280*16*16 == 20*128*128
        f = f.view(b, 20, f.shape[2] * 8, f.shape[3] * 8)
        return self.hm(f), self.wh(f), self.reg(f)


# --------------------------------------------------------------------------------------------
# Paper MobileNetV2 / MobileNetV1 backbones returning the stride 4/8/16/32 feature maps

class InvertedResidual(nn.Module):
    def __init__(self, ci, co, s, t, act=nn.ReLU6):
        super().__init__()
        h = int(round(ci * t))
        self.use_res = s == 1 and ci == co  # identity shortcut only here (paper)
        layers = [] if t == 1 else [conv_bn(ci, h, 1, act=act)]
        layers += [conv_bn(h, h, 3, s, groups=h, act=act),
                   conv_bn(h, co, 1, act=None)]  # linear bottleneck
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    """Sandler et al. 2018, Table 2, without the final 1x1 (1280) conv and the classifier:
    the neck starts from the last bottleneck (320 x width channels). `act`: ReLU6 (paper);
    ReLU to take CenterFace's backbone weights (train_centernet.py --init centerface)."""
    CFG = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1)]

    def __init__(self, width=1.0, act=nn.ReLU6):
        super().__init__()
        c0 = _div(32 * width)
        self.stem = conv_bn(3, c0, 3, 2, act=act)
        blocks, ci, self.taps, self.tap_channels = [], c0, [], []
        stride = 2
        for t, c, n, s in self.CFG:
            co = _div(c * width)
            for i in range(n):
                blocks.append(InvertedResidual(ci, co, s if i == 0 else 1, t, act))
                ci = co
            stride *= s
            # tap the last block at each output stride (overwritten by later stages at same stride)
            if stride >= 4:
                if self.taps and self.taps[-1][0] == stride:
                    self.taps[-1] = (stride, len(blocks) - 1)
                    self.tap_channels[-1] = co
                else:
                    self.taps.append((stride, len(blocks) - 1))
                    self.tap_channels.append(co)
        self.blocks = nn.Sequential(*blocks)
        self.tap_idx = {i for _, i in self.taps}

    def forward(self, x):
        x = self.stem(x)
        feats = []
        for i, b in enumerate(self.blocks):
            x = b(x)
            if i in self.tap_idx:
                feats.append(x)
        return feats  # strides 4, 8, 16, 32


class MobileNetV1(nn.Module):
    """Howard et al. 2017, Table 1, without pooling and classifier."""
    CFG = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + \
          [(1024, 2), (1024, 1)]

    def __init__(self, width=1.0):
        super().__init__()
        c0 = int(32 * width)
        self.stem = conv_bn(3, c0, 3, 2, act=nn.ReLU)
        blocks, ci, stride = [], c0, 2
        self.tap_idx, self.tap_channels = [], []
        for i, (c, s) in enumerate(self.CFG):
            co = int(c * width)
            blocks.append(nn.Sequential(conv_bn(ci, ci, 3, s, groups=ci, act=nn.ReLU),
                                        conv_bn(ci, co, 1, act=nn.ReLU)))
            ci, stride = co, stride * s
            nxt = self.CFG[i + 1][1] if i + 1 < len(self.CFG) else 2
            if stride >= 4 and nxt == 2:
                self.tap_idx.append(i)
                self.tap_channels.append(co)
        self.blocks = nn.Sequential(*blocks)

    def forward(self, x):
        x = self.stem(x)
        feats = []
        for i, b in enumerate(self.blocks):
            x = b(x)
            if i in self.tap_idx:
                feats.append(x)
        return feats


def _bilinear_up(c):
    """Depthwise 4x4 stride-2 transposed conv initialised to bilinear ×2 (CenterNet's IDAUp
    `up`, trainable)."""
    up = nn.ConvTranspose2d(c, c, 4, stride=2, padding=1, groups=c, bias=False)
    w = up.weight.data
    f = math.ceil(w.size(2) / 2)
    cc = (2 * f - 1 - f % 2) / (2.0 * f)
    for i in range(w.size(2)):
        for j in range(w.size(3)):
            w[0, 0, i, j] = (1 - math.fabs(i / f - cc)) * (1 - math.fabs(j / f - cc))
    for k in range(1, w.size(0)):
        w[k, 0] = w[0, 0]
    return up


class UpNeck(nn.Module):
    """Stride 32 -> 4 in three ×2 steps. Each step: 1x1 conv to the step's width (BN, ReLU),
    ×2 up-convolution (depthwise 4x4 transposed, bilinear init), plus a 1x1-projected skip from
    the backbone at that stride, then a depthwise 3x3 + 1x1 (BN, ReLU) to mix. Depthwise
    everywhere at high resolution because dense 3x3 convs at stride 4 would cost more than the
    whole backbone (see docs/seed.md)."""

    def __init__(self, in_channels, widths=(128, 64, 64)):
        super().__init__()
        c4, c8, c16, c32 = in_channels
        self.steps = nn.ModuleList()
        ci = c32
        for skip_c, co in zip((c16, c8, c4), widths):
            self.steps.append(nn.ModuleDict({
                "reduce": conv_bn(ci, co, 1, act=nn.ReLU),
                "up": _bilinear_up(co),
                "skip": conv_bn(skip_c, co, 1, act=None),
                "mix": nn.Sequential(conv_bn(co, co, 3, groups=co, act=nn.ReLU),
                                     conv_bn(co, co, 1, act=nn.ReLU)),
            }))
            ci = co
        self.out_channels = ci

    def forward(self, feats):
        c4, c8, c16, x = feats
        for step, skip in zip(self.steps, (c16, c8, c4)):
            x = step["up"](step["reduce"](x)) + step["skip"](skip)
            x = step["mix"](x)
        return x


class Heads(nn.Module):
    def __init__(self, ci, num_classes, head_conv):
        super().__init__()

        def head(co, bias=0.0):
            h = nn.Sequential(nn.Conv2d(ci, head_conv, 3, 1, 1), nn.ReLU(inplace=True),
                              nn.Conv2d(head_conv, co, 1))
            h[-1].bias.data.fill_(bias)
            return h
        self.hm = head(num_classes, HM_BIAS)
        self.wh = head(2)
        self.reg = head(2)

    def forward(self, x):
        return self.hm(x), self.wh(x), self.reg(x)


class MobileCenterNet(nn.Module):
    def __init__(self, backbone="mobilenetv2", num_classes=80, width=1.0,
                 neck=(128, 64, 64), head_conv=64, act=nn.ReLU6):
        super().__init__()
        self.backbone = (MobileNetV2(width, act) if backbone == "mobilenetv2"
                         else MobileNetV1(width))
        self.neck = UpNeck(self.backbone.tap_channels, neck)
        self.heads = Heads(self.neck.out_channels, num_classes, head_conv)

    def forward(self, x):
        return self.heads(self.neck(self.backbone(x)))


# --------------------------------------------------------------------------------------------
# CenterNet's DLASeg (DLA-34), deformable convolutions replaced by plain 3x3 convolutions

class BasicBlock(nn.Module):
    def __init__(self, ci, co, s=1):
        super().__init__()
        self.conv1 = nn.Conv2d(ci, co, 3, s, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(co)
        self.conv2 = nn.Conv2d(co, co, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(co)

    def forward(self, x, residual=None):
        residual = x if residual is None else residual
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + residual)


class Root(nn.Module):
    def __init__(self, ci, co):
        super().__init__()
        self.conv = nn.Conv2d(ci, co, 1, bias=False)
        self.bn = nn.BatchNorm2d(co)

    def forward(self, *xs):
        return F.relu(self.bn(self.conv(torch.cat(xs, 1))))


class Tree(nn.Module):
    def __init__(self, levels, ci, co, stride=1, level_root=False, root_dim=0):
        super().__init__()
        root_dim = 2 * co if root_dim == 0 else root_dim
        if level_root:
            root_dim += ci
        if levels == 1:
            self.tree1 = BasicBlock(ci, co, stride)
            self.tree2 = BasicBlock(co, co, 1)
            self.root = Root(root_dim, co)
        else:
            self.tree1 = Tree(levels - 1, ci, co, stride, root_dim=0)
            self.tree2 = Tree(levels - 1, co, co, root_dim=root_dim + co)
        self.level_root, self.levels = level_root, levels
        self.downsample = nn.MaxPool2d(stride, stride) if stride > 1 else None
        self.project = (nn.Sequential(nn.Conv2d(ci, co, 1, bias=False), nn.BatchNorm2d(co))
                        if ci != co else None)

    def forward(self, x, residual=None, children=None):
        children = [] if children is None else children
        bottom = self.downsample(x) if self.downsample is not None else x
        residual = self.project(bottom) if self.project is not None else bottom
        if self.level_root:
            children.append(bottom)
        x1 = self.tree1(x, residual)
        if self.levels == 1:
            x2 = self.tree2(x1)
            return self.root(x2, x1, *children)
        children.append(x1)
        return self.tree2(x1, children=children)


class DLA34(nn.Module):
    channels = [16, 32, 64, 128, 256, 512]

    def __init__(self):
        super().__init__()
        c = self.channels
        self.base_layer = nn.Sequential(nn.Conv2d(3, c[0], 7, 1, 3, bias=False),
                                        nn.BatchNorm2d(c[0]), nn.ReLU(inplace=True))
        self.level0 = nn.Sequential(nn.Conv2d(c[0], c[0], 3, 1, 1, bias=False),
                                    nn.BatchNorm2d(c[0]), nn.ReLU(inplace=True))
        self.level1 = nn.Sequential(nn.Conv2d(c[0], c[1], 3, 2, 1, bias=False),
                                    nn.BatchNorm2d(c[1]), nn.ReLU(inplace=True))
        self.level2 = Tree(1, c[1], c[2], 2, level_root=False)
        self.level3 = Tree(2, c[2], c[3], 2, level_root=True)
        self.level4 = Tree(2, c[3], c[4], 2, level_root=True)
        self.level5 = Tree(1, c[4], c[5], 2, level_root=True)

    def forward(self, x):
        y = []
        x = self.base_layer(x)
        for i in range(6):
            x = getattr(self, f"level{i}")(x)
            y.append(x)
        return y


class PlainConv(nn.Module):
    """Stands in for CenterNet's DeformConv (DCNv2 3x3 + BN + ReLU): tract has no DeformConv."""

    def __init__(self, ci, co):
        super().__init__()
        self.conv = nn.Conv2d(ci, co, 3, 1, 1, bias=True)
        self.actf = nn.Sequential(nn.BatchNorm2d(co), nn.ReLU(inplace=True))

    def forward(self, x):
        return self.actf(self.conv(x))


class IDAUp(nn.Module):
    def __init__(self, o, channels, up_f):
        super().__init__()
        self.n = len(channels)
        for i in range(1, len(channels)):
            f = int(up_f[i])
            up = nn.ConvTranspose2d(o, o, f * 2, stride=f, padding=f // 2, groups=o, bias=False)
            w = up.weight.data
            ff = math.ceil(w.size(2) / 2)
            cc = (2 * ff - 1 - ff % 2) / (2.0 * ff)
            for a in range(w.size(2)):
                for b in range(w.size(3)):
                    w[0, 0, a, b] = (1 - math.fabs(a / ff - cc)) * (1 - math.fabs(b / ff - cc))
            for k in range(1, w.size(0)):
                w[k, 0] = w[0, 0]
            setattr(self, f"proj_{i}", PlainConv(channels[i], o))
            setattr(self, f"up_{i}", up)
            setattr(self, f"node_{i}", PlainConv(o, o))

    def forward(self, layers, startp, endp):
        for i in range(startp + 1, endp):
            up = getattr(self, f"up_{i - startp}")
            proj = getattr(self, f"proj_{i - startp}")
            layers[i] = up(proj(layers[i]))
            layers[i] = getattr(self, f"node_{i - startp}")(layers[i] + layers[i - 1])


class DLAUp(nn.Module):
    def __init__(self, startp, channels, scales):
        super().__init__()
        self.startp = startp
        in_channels = list(channels)
        channels = list(channels)
        scales = np.array(scales, dtype=int)
        for i in range(len(channels) - 1):
            j = -i - 2
            setattr(self, f"ida_{i}", IDAUp(channels[j], in_channels[j:], scales[j:] // scales[j]))
            scales[j + 1:] = scales[j]
            in_channels[j + 1:] = [channels[j] for _ in channels[j + 1:]]

    def forward(self, layers):
        out = [layers[-1]]
        for i in range(len(layers) - self.startp - 1):
            getattr(self, f"ida_{i}")(layers, len(layers) - i - 2, len(layers))
            out.insert(0, layers[-1])
        return out


class DLASeg(nn.Module):
    """CenterNet `dla_34` (pose_dla_dcn.get_pose_net): down_ratio 4, last_level 5,
    head_conv 256, DeformConv -> PlainConv."""

    def __init__(self, num_classes=80, head_conv=256):
        super().__init__()
        self.first_level, self.last_level = 2, 5
        self.base = DLA34()
        ch = self.base.channels
        scales = [2 ** i for i in range(len(ch[self.first_level:]))]
        self.dla_up = DLAUp(self.first_level, ch[self.first_level:], scales)
        self.ida_up = IDAUp(ch[self.first_level], ch[self.first_level:self.last_level],
                            [2 ** i for i in range(self.last_level - self.first_level)])
        self.heads = Heads(ch[self.first_level], num_classes, head_conv)

    def forward(self, x):
        x = self.dla_up(self.base(x))
        y = [x[i].clone() for i in range(self.last_level - self.first_level)]
        self.ida_up(y, 0, len(y))
        return self.heads(y[-1])


# --------------------------------------------------------------------------------------------

DESCRIPTIONS = {
    "seed-mobilenetv2-as-published":
        "The write-up's MobileNetV2 CenterNet code as published (n+1 blocks per stage, projection "
        "shortcuts on every stride-1 block, 16x16x1280 map reshaped to 20x128x128, 1x1 heads). "
        "Random weights: for checking its size and speed claims, not a detector.",
    "mobilenetv2-centernet":
        "Paper MobileNetV2 (Sandler et al. 2018, width 1.0, up to the 320-channel bottleneck) + "
        "stride-4 up-convolution neck with skips + CenterNet hm/wh/reg heads. Random weights.",
    "mobilenetv1-centernet":
        "MobileNetV1 (Howard et al. 2017, width 1.0) + the same stride-4 neck and heads as "
        "mobilenetv2-centernet. Random weights.",
    "dla34-centernet":
        "CenterNet's DLASeg (DLA-34 + DLAUp/IDAUp, head_conv 256) with every deformable "
        "convolution (DCNv2) replaced by a plain 3x3 convolution, because tract has no DeformConv. "
        "Random weights.",
}


def build(mid, num_classes=80):
    torch.manual_seed(0)
    if mid == "seed-mobilenetv2-as-published":
        return PublishedMobileNetV2CenterNet(num_classes)
    if mid == "mobilenetv2-centernet":
        return MobileCenterNet("mobilenetv2", num_classes)
    if mid == "mobilenetv1-centernet":
        return MobileCenterNet("mobilenetv1", num_classes)
    if mid == "dla34-centernet":
        return DLASeg(num_classes)
    raise ValueError(f"unknown model {mid}")


def randomize_bn(model, seed=0):
    """Give BatchNorm layers non-trivial statistics so random-weight activations stay in range
    (a freshly initialised net in eval mode would otherwise blow up or vanish)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)


@torch.no_grad()
def calibrate_bn(model, size, batches=2, seed=0):
    """Set BN running stats from random input (train-mode forward passes), so that a random-
    weight model's activations neither explode nor vanish through ~50 layers."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            m.momentum = None  # cumulative average
    model.train()
    for _ in range(batches):
        model(torch.randn(2, 3, size, size, generator=g))
    model.eval()


def export_onnx(model, path, size, opset=13):
    model.eval()
    x = torch.zeros(1, 3, size, size)
    kw = dict(input_names=["input"], output_names=["hm", "wh", "reg"], opset_version=opset,
              do_constant_folding=True)
    try:
        torch.onnx.export(model, (x,), path, dynamo=False, **kw)
    except TypeError:  # older torch without the dynamo switch
        torch.onnx.export(model, (x,), path, **kw)


def count_params_torch(model):
    return int(sum(p.numel() for p in model.parameters()))


def onnx_params(model_proto):
    return int(sum(int(np.prod(t.dims)) for t in model_proto.graph.initializer))


def onnx_macs(path, by_part=False):
    """Conv / ConvTranspose / MatMul / Gemm multiply-accumulates from ONNX shape inference
    (same definition as tools/convert_models.py). With by_part: a dict keyed by the first
    component of the node name (the top-level PyTorch module: backbone / neck / heads ...)."""
    import onnx
    from onnx import shape_inference
    m = shape_inference.infer_shapes(onnx.load(path), strict_mode=False, data_prop=True)
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input) + list(m.graph.output):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    for t in m.graph.initializer:
        shapes[t.name] = list(t.dims)
    parts = {}
    for n in m.graph.node:
        if n.op_type in ("Conv", "ConvTranspose"):
            w, out, inp = shapes[n.input[1]], shapes[n.output[0]], shapes[n.input[0]]
            k = int(np.prod(w[2:]))
            v = int(np.prod(out if n.op_type == "Conv" else inp)) * w[1] * k
        elif n.op_type in ("MatMul", "Gemm"):
            v = int(np.prod(shapes[n.output[0]])) * shapes[n.input[0]][-1]
        else:
            continue
        part = n.name.strip("/").split("/")[0] if "/" in n.name else "other"
        if part in ("hm", "wh", "reg"):
            part = "heads"
        parts[part] = parts.get(part, 0) + v
    return parts if by_part else int(sum(parts.values()))


def manifest(mid, file, size, labels, description, weights="random", score=0.3, top_k=100,
             params=None, macs=None, origin="tools/seed_models.py", mean=IMAGENET_MEAN,
             std=IMAGENET_STD):
    return {
        "id": mid,
        "name": mid,
        "task": description,
        "description": description,
        "weights": weights,
        "family": "centernet-classic",
        "file": file,
        "input": {"name": "input", "layout": "nchw", "dtype": "f32", "channels": "rgb",
                  "resize": "letterbox", "size": [size, size],
                  "mean": list(mean), "std": list(std)},
        "outputs": {"heatmap": "hm", "wh": "wh", "offset": "reg"},
        "labels": list(labels),
        "defaults": {"score_threshold": score, "nms_iou": 0.5, "top_k": top_k},
        "decode": {"heatmap_sigmoid": True, "stride": 4},
        "params": params,
        "macs": macs,
        "origin": origin,
        "license": "MIT",
    }


def write_model(mid, out, size=512):
    import onnx
    model = build(mid)
    calibrate_bn(model, min(size, 256))
    path = os.path.join(out, mid + ".onnx")
    export_onnx(model, path, size)
    proto = onnx.load(path)
    onnx.checker.check_model(proto)
    man = manifest(mid, mid + ".onnx", size, COCO_LABELS, DESCRIPTIONS[mid],
                   params=onnx_params(proto), macs=onnx_macs(path))
    with open(os.path.join(out, mid + ".json"), "w") as f:
        json.dump(man, f, indent=2)
        f.write("\n")
    return model, path, man


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--models", default=",".join(MODEL_IDS))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    os.makedirs(a.out, exist_ok=True)
    for mid in a.models.split(","):
        model, path, man = write_model(mid, a.out, a.size)
        print(f"{mid:32s} torch params {count_params_torch(model):>10d}  onnx params "
              f"{man['params']:>10d}  {os.path.getsize(path):>10d} bytes  MACs {man['macs']:>12d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
