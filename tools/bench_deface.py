#!/usr/bin/env python3
"""`centerscope anonymize` against deface 1.5.0, side by side, whole process (issue 13).

  /work/venv-deface/bin/python tools/bench_deface.py --centerscope target/release/centerscope \
      [--runs 3] [--size 640x360] [--thresh T] [--keep]

(venv: `python3 -m venv V && V/bin/pip install deface==1.5.0 onnx onnxruntime`; without
`onnx` deface silently falls back to OpenCV's DNN instead of onnxruntime.)

What it measures, and why: both tools run the same CenterFace network, so the question is
what the rest costs. Each tool anonymizes the same clip end to end (decode, detect, blur,
H.264 encode, audio copied) and the wall clock of the whole process is timed, --runs rounds,
interleaved and alternating who goes first so both see the same machine load; the median per
tool decides, with deface / centerscope as the headline ratio. Both get the same network
input: deface rounds each side of --scale up to a multiple of 32 and stretches the frame to it
(640x360 -> 640x384), so Centerscope gets that rounded size as --size. The encoders differ
(deface: x264 preset medium crf 25; Centerscope's defaults may not), so when `anonymize` has
--preset/--crf Centerscope also runs with deface's settings, and both ratios are printed.

The clip (made here with ffmpeg, 1280x720, 30 fps, 5 s, H.264 + AAC sine) has two moving
faces pasted from scikit-image's astronaut photo, so every face box is known exactly: the
photo's face box (deface's own detector on the clean still, at 1024x1024) mapped through the
paste geometry. Checks on each output: frame count = input's, audio present with duration
within 0.1 s of the input's; coverage = correlation of the Laplacians of input and output
luma in the inner 60 % of each face box (1 = detail kept, ~0 = removed; a face-frame counts as
covered below 0.3); PSNR of the luma outside the face boxes (each box widened by half its size
on every side, as both tools blur beyond the box), >= 30 dB expected. A plain ffmpeg re-encode
(no detection) is timed alongside as the floor and the reference for the metrics.
"""
import argparse
import contextlib
import datetime
import importlib.metadata as md
import io
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import cv2
import numpy as np
import skimage.data

W, H, FPS, SECONDS = 1280, 720, 30, 5
NFRAMES = FPS * SECONDS


def sh(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def reference_face():
    """Face box [x1,y1,x2,y2] in the 512x512 astronaut photo, from deface's CenterFace."""
    from deface.centerface import CenterFace
    with contextlib.redirect_stdout(io.StringIO()):   # "Running on CPUExecutionProvider."
        dets, _ = CenterFace(in_shape=(1024, 1024))(skimage.data.astronaut(), threshold=0.5)
    return dets[0, :4]


def make_clip(path):
    """Writes the test clip, returns the known face boxes per frame (frame pixels)."""
    astro = skimage.data.astronaut()
    fx1, fy1, fx2, fy2 = reference_face()
    mirror = np.ascontiguousarray(astro[:, ::-1])
    sprites = [  # image, face box in it, (size, x, y) at start and end of the clip
        (astro, (fx1, fy1, fx2, fy2), (410, 40, 100), (560, 300, 80)),
        (mirror, (512 - fx2, fy1, 512 - fx1, fy2), (240, 1000, 420), (200, 900, 360)),
    ]
    bg = cv2.resize(skimage.data.coffee(), (W + 160, H + 90), interpolation=cv2.INTER_AREA)
    ff = subprocess.Popen(
        ["ffmpeg", "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}",
         "-r", str(FPS), "-i", "-", "-f", "lavfi", "-i",
         f"sine=frequency=440:sample_rate=48000:duration={SECONDS}", "-map", "0:v", "-map", "1:a",
         "-c:v", "libx264", "-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k",
         "-shortest", path], stdin=subprocess.PIPE)
    boxes = []
    for i in range(NFRAMES):
        p = i / (NFRAMES - 1)
        ox, oy = round(160 * p), round(90 * p)
        frame = bg[oy:oy + H, ox:ox + W].copy()
        fb = []
        for img, (bx1, by1, bx2, by2), a, b in sprites:
            s, x, y = (round(u + (v - u) * p) for u, v in zip(a, b))
            frame[y:y + s, x:x + s] = cv2.resize(img, (s, s), interpolation=cv2.INTER_AREA)
            k = s / 512
            fb.append((x + bx1 * k, y + by1 * k, x + bx2 * k, y + by2 * k))
        boxes.append(fb)
        ff.stdin.write(frame.tobytes())
    ff.stdin.close()
    if ff.wait() != 0:
        sys.exit("ffmpeg could not write the test clip")
    return boxes


def probe(path):
    """(video frames, width, height, audio duration s or None) of a file."""
    r = sh(["ffprobe", "-v", "error", "-count_frames", "-show_entries",
            "stream=codec_type,width,height,nb_read_frames,duration", "-of", "json", path])
    streams = json.loads(r.stdout or "{}").get("streams", [])
    v = next((s for s in streams if s["codec_type"] == "video"), {})
    a = next((s for s in streams if s["codec_type"] == "audio"), None)
    return (int(v.get("nb_read_frames", 0)), v.get("width"), v.get("height"),
            float(a["duration"]) if a and "duration" in a else None)


def luma_frames(path):
    p = subprocess.Popen(["ffmpeg", "-v", "error", "-i", path, "-map", "0:v:0", "-s", f"{W}x{H}",
                          "-f", "rawvideo", "-pix_fmt", "gray", "-"], stdout=subprocess.PIPE)
    while len(buf := p.stdout.read(W * H)) == W * H:
        yield np.frombuffer(buf, np.uint8).reshape(H, W).astype(np.float32)
    p.stdout.close()
    p.wait()


def quality(inp, out, boxes):
    """(mean, worst Laplacian correlation in the faces, share covered, PSNR outside faces)."""
    corrs, se, n = [], 0.0, 0
    for a, b, fb in zip(luma_frames(inp), luma_frames(out), boxes):
        la, lb = cv2.Laplacian(a, cv2.CV_32F), cv2.Laplacian(b, cv2.CV_32F)
        keep = np.ones((H, W), bool)
        for x1, y1, x2, y2 in fb:
            w, h = x2 - x1, y2 - y1
            ra = la[int(y1 + .2 * h):int(y2 - .2 * h), int(x1 + .2 * w):int(x2 - .2 * w)].ravel()
            rb = lb[int(y1 + .2 * h):int(y2 - .2 * h), int(x1 + .2 * w):int(x2 - .2 * w)].ravel()
            corrs.append(0.0 if rb.std() < 1e-6 else float(np.corrcoef(ra, rb)[0, 1]))
            keep[max(0, int(y1 - h / 2)):int(y2 + h / 2), max(0, int(x1 - w / 2)):int(x2 + w / 2)] = 0
        d = a[keep] - b[keep]
        se, n = se + float((d * d).sum()), n + d.size
    if not corrs:
        return None
    psnr = 10 * math.log10(255 ** 2 / max(se / n, 1e-12))
    return (statistics.mean(corrs), max(corrs), sum(c < 0.3 for c in corrs) / len(corrs), psnr)


def timed(cmd):
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    r = sh(cmd)
    wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    return r, wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def machine():
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), platform.processor())
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 30
    osname = next((ln.split("=", 1)[1].strip().strip('"') for ln in open("/etc/os-release")
                   if ln.startswith("PRETTY_NAME")), platform.system())
    return f"{os.cpu_count()} vCPUs of {cpu}, {mem:.0f} GiB, {osname}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--centerscope", default="target/release/centerscope")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", default="640x360", help="deface --scale WxH (network input)")
    ap.add_argument("--thresh", type=float, help="passed to both (default: each tool's own)")
    ap.add_argument("--keep", action="store_true", help="keep the temp dir with clip and outputs")
    a = ap.parse_args()
    for tool in ("ffmpeg", "ffprobe"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found on PATH (Debian: apt-get install ffmpeg)")
    sw, shh = (int(v) for v in a.size.lower().split("x"))
    nw, nh = (int(math.ceil(v / 32) * 32) for v in (sw, shh))   # deface's shape_transform

    cs = os.path.abspath(a.centerscope)
    has_cs = os.path.isfile(cs) and os.access(cs, os.X_OK)
    cs_note = f"`{cs}` not found or not executable"
    if has_cs:
        r = sh([cs, "anonymize", "--help"])
        has_cs = r.returncode == 0
        cs_note = (f"`{cs} anonymize --help` exited {r.returncode}: "
                   + ((r.stderr or r.stdout).strip().splitlines() or ["(no output)"])[0])
    if not has_cs:
        print(f"NOTE: no usable `centerscope anonymize` ({cs_note}); measuring deface only.\n",
              file=sys.stderr)

    tmp = tempfile.mkdtemp(prefix="bench_deface_")
    clip = os.path.join(tmp, "in.mp4")
    boxes = make_clip(clip)
    in_frames, _, _, in_audio = probe(clip)
    thr = [] if a.thresh is None else [str(a.thresh)]
    deface = os.path.join(os.path.dirname(sys.executable), "deface")
    deface = [deface] if os.path.exists(deface) else [sys.executable, "-m", "deface.deface"]
    tools = {  # name: (command, output path, network input)
        "deface": (deface + [clip, "-o", f"{tmp}/deface.mp4", "--keep-audio", "--scale",
                             f"{sw}x{shh}"] + (["--thresh"] + thr if thr else []),
                   f"{tmp}/deface.mp4", f"{nw}×{nh}"),
    }
    if has_cs:
        base = [cs, "anonymize", clip, "--size", f"{nw}x{nh}", "--overwrite"] + (
            ["--threshold"] + thr if thr else [])
        tools["centerscope"] = (base + ["--output", f"{tmp}/cs.mp4"], f"{tmp}/cs.mp4", f"{nw}×{nh}")
        if "--preset" in r.stdout and "--crf" in r.stdout:   # also with deface's x264 settings
            tools["cs-medium"] = (base + ["--output", f"{tmp}/cs2.mp4", "--preset", "medium",
                                          "--crf", "25"], f"{tmp}/cs2.mp4", f"{nw}×{nh}")
    tools["ffmpeg"] = (["ffmpeg", "-v", "error", "-y", "-i", clip, "-c:v", "libx264", "-c:a", "copy",
                        f"{tmp}/ffmpeg.mp4"], f"{tmp}/ffmpeg.mp4", "—")
    cs_mtime = os.path.getmtime(cs) if has_cs else None
    rows, med, problems = [], {}, []
    walls = {k: [] for k in tools}
    cpus = {k: [] for k in tools}
    failed = {}
    for rnd in range(a.runs):
        order = list(tools) if rnd % 2 == 0 else list(reversed(tools))
        for name in order:
            if name in failed:
                continue
            if os.path.exists(tools[name][1]):
                os.remove(tools[name][1])
            r, wall, cpu = timed(tools[name][0])
            if r.returncode != 0 or not os.path.exists(tools[name][1]):
                failed[name] = f"exit {r.returncode}: {(r.stderr or r.stdout).strip()[-2000:]}"
                continue
            walls[name].append(wall)
            cpus[name].append(cpu)
            print(f"round {rnd + 1} {name}: {wall:.2f} s wall, {cpu:.2f} s CPU "
                  f"(load {os.getloadavg()[0]:.2f})", file=sys.stderr)

    if has_cs and os.path.getmtime(cs) != cs_mtime:
        problems.append(f"{cs} was rebuilt during the benchmark: rerun")
    labels = {"deface": f"deface {md.version('deface')}", "centerscope": "centerscope anonymize",
              "cs-medium": "centerscope anonymize --preset medium --crf 25 (deface's x264 settings)",
              "ffmpeg": "ffmpeg re-encode only, x264 defaults (floor)"}
    for name in ("deface", "centerscope", "cs-medium", "ffmpeg"):
        if name not in tools:
            continue
        if name in failed:
            problems.append(f"{name} failed ({failed[name]})")
            rows.append(f"| {labels[name]} | failed |" + " |" * 9)
            continue
        med[name] = statistics.median(walls[name])
        frames, w, h, audio = probe(tools[name][1])
        q = quality(clip, tools[name][1], boxes)
        da = None if audio is None or in_audio is None else audio - in_audio
        ok_frames, ok_audio = frames == in_frames and (w, h) == (W, H), da is not None and abs(da) <= 0.1
        if name != "ffmpeg":
            if not ok_frames:
                problems.append(f"{name}: {frames} frames at {w}x{h}, input has {in_frames} at {W}x{H}")
            if not ok_audio:
                problems.append(f"{name}: audio {'missing' if audio is None else f'off by {da:+.3f} s'}")
            if q and q[3] < 30:
                problems.append(f"{name}: PSNR outside faces {q[3]:.1f} dB < 30")
            if q and q[2] < 1:
                problems.append(f"{name}: {100 * (1 - q[2]):.1f} % of face-frames not covered")
        runs = ", ".join(f"{t:.2f}" for t in walls[name])
        rows.append(
            f"| {labels[name]} | {tools[name][2]} | {runs} | **{med[name]:.2f}** "
            f"| {NFRAMES / med[name]:.1f} | {statistics.median(cpus[name]):.1f} "
            f"| {frames}/{in_frames} {'✓' if ok_frames else '✗'} "
            f"| {'—' if da is None else f'{da:+.3f}'} {'✓' if ok_audio else '✗'} "
            + (f"| {q[0]:.3f} / {q[1]:.3f} | {100 * q[2]:.0f} % | {q[3]:.1f} |" if q else "| | | |"))

    ortv, iiov = md.version("onnxruntime"), md.version("imageio-ffmpeg")
    try:
        import imageio_ffmpeg
        dff = imageio_ffmpeg.get_ffmpeg_version()
    except Exception:
        dff = "?"
    sysff = sh(["ffmpeg", "-version"]).stdout.split("\n")[0].split(" ")[2]
    csv = sh([cs, "--version"]).stdout.strip().splitlines()[0] if has_cs else "n/a"
    print(f"Measured on {datetime.date.today()} on {machine()}. deface {md.version('deface')} "
          f"(Python {platform.python_version()}, onnxruntime {ortv} CPU, default threads = "
          f"physical cores; encodes with imageio-ffmpeg {iiov}'s ffmpeg {dff}: libx264 crf 25 preset "
          f"medium yuv420p, audio stream-copied); {csv}; system ffmpeg {sysff}.\n")
    print(f"Clip: {W}×{H}, {FPS} fps, {in_frames} frames, H.264 (crf 18) + AAC 48 kHz sine "
          f"({in_audio:.3f} s); two moving faces of known position (~{boxes[0][0][2] - boxes[0][0][0]:.0f} "
          f"and ~{boxes[0][1][2] - boxes[0][1][0]:.0f} px wide). Network input {nw}×{nh} for both: deface "
          f"`--scale {sw}x{shh}` (each side rounded up to a multiple of 32, frame stretched), "
          f"centerscope `--size {nw}x{nh}`. Threshold: {a.thresh if thr else 'the default of each tool'}. "
          f"Wall clock of the whole process, {a.runs} interleaved round(s); median.\n")
    print("| tool | network input | wall s per round | median s | fps | CPU s | frames "
          "| audio Δ s | face Laplacian corr mean / worst | faces covered | PSNR outside faces dB |")
    print("|---|---|---|---:|---:|---:|---|---|---|---:|---:|")
    print("\n".join(rows))
    for k, how in (("centerscope", "defaults"), ("cs-medium", "same x264 preset and crf")):
        if "deface" in med and k in med:
            print(f"\n**deface / centerscope ({how}): {med['deface'] / med[k]:.2f}×** "
                  f"(median wall clock; {NFRAMES / med[k]:.1f} vs {NFRAMES / med['deface']:.1f} fps)")
    if not has_cs:
        print(f"\ncenterscope: not measured ({cs_note}).")
    if a.keep:
        print(f"\nfiles kept in {tmp}", file=sys.stderr)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    for p in problems:
        print(f"PROBLEM: {p}", file=sys.stderr)
    sys.exit(1 if problems else (3 if not has_cs else 0))


if __name__ == "__main__":
    main()
