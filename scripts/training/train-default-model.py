#!/usr/bin/env python3
"""Train HemoCluster's default hemorrhage model on synthetic cohorts and export it to ONNX.

Pipeline:
  1. `hemo synth` writes training cohorts (seeds >= 1000; the evaluation seeds 77 and 5000+
     are never used here).
  2. Every CT slice is resized from its in-plane grid (512 x 512) to the model input (256 x 256)
     with bilinear interpolation, half-pixel centres, no antialias -- the same rule the sidecar
     documents for inference -- and windowed into three channels.
  3. A small 2D U-Net is trained on the CPU on crops of the 256 x 256 slices for a fixed number of
     steps (deterministic by --steps and --seed, never by the wall clock). Class balancing: two
     crops in three are centred on a voxel of a subtype drawn uniformly from the five (among those
     the training data holds), the rest anywhere. Soft targets: the one-hot 512 label map averaged
     over 2 x 2 blocks. Per-class loss: class-weighted cross-entropy plus the mean over the five
     subtypes of a soft Dice (an absent subtype's Dice term punishes predicting it), so every
     subtype is rewarded, not only "blood".
  4. The slice-classification head reads, per subtype, the global average of
     relu(logit_subtype - logit_background) (and of the same minus 2) from the segmentation
     logits, and a Gemm turns these 10 features into 6 logits (any + EPH..IVH). The Gemm is fitted
     by logistic regression on full 256 x 256 training slices after the U-Net is trained.
  5. Export to ONNX (opset 13, dynamic batch/height/width) and write the JSON sidecar (format
     version 2, scripts/training/default_model_sidecar.py) with the post-processing filter calibrated for
     the shipped model; scripts/training/train-default-model.sh then recalibrates that filter for the new
     model with scripts/training/calibrate-default-model.py --write-sidecar.

Run through scripts/training/train-default-model.sh, which installs what this needs.
"""
import argparse
import os
import subprocess
import sys
import time

import nibabel as nib
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import default_model_sidecar  # noqa: E402  (beside this script)
from default_model_sidecar import INPUT_SIZE, SUBTYPES, WINDOWS  # noqa: E402,F401


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--hemo", default=".build/release/hemo", help="hemo executable used for `hemo synth`")
    p.add_argument("--work", default="/tmp/hemo-train", help="scratch folder for cohorts (never committed)")
    p.add_argument("--train-seeds", default="1000,1001,1002", help="comma list of synth seeds (each >= 1000)")
    p.add_argument("--cases-per-seed", type=int, default=30)
    p.add_argument("--positive-fraction", type=float, default=0.75)
    p.add_argument("--steps", type=int, default=600, help="optimizer steps of the U-Net training loop")
    p.add_argument("--thickness-range", default="1-5", help="hemo synth --slice-thickness-range of the training cohorts")
    p.add_argument("--real-scan-mimics", action="store_true",
                   help="hemo synth --real-scan-mimics for the training cohorts (skull-stripped exams, dense cisterns, "
                        "wider skull partial volume, correlated noise; never blood)")
    p.add_argument("--normal-seeds", default="",
                   help="comma list of extra synth seeds (each >= 1000) whose cohorts hold only normal heads (hemo synth "
                        "--positive-fraction 0, with --real-scan-mimics when that is set): more blood-free slices, with "
                        "the mimics, for the crops drawn anywhere")
    p.add_argument("--normal-cases-per-seed", type=int, default=30)
    p.add_argument("--class-weight", type=float, default=3.0, help="cross-entropy weight of the five subtypes (background 1)")
    p.add_argument("--subtype-weights", default="1,1,1,1,1",
                   help="EPH,SDH,SAH,IPH,IVH: relative odds of the subtype a class-balanced crop is centred on, "
                        "and factors on the cross-entropy weight of each subtype")
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--widths", default="4,8,16,40,80", help="channel widths of the 5 U-Net levels")
    p.add_argument("--cls-slices", type=int, default=40, help="positive and negative slices each for the slice head")
    p.add_argument("--crop", type=int, default=160, help="training crop size on the 256 x 256 input grid")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: on a shared, loaded machine 2 threads measured 4-6x slower per step)")
    p.add_argument("--max-slices", type=int, default=48,
                   help="thin series: keep every n-th slice so that at most this many remain (neighbours are nearly identical)")
    p.add_argument("--init-onnx", help="warm start: continue from an exported model (batch norms become frozen per-channel biases)")
    p.add_argument("--freeze-levels", type=int, default=0,
                   help="with --init-onnx: keep the first N encoder levels fixed (cheaper steps; the subtype decision is learnt deeper)")
    p.add_argument("--seed", type=int, default=1234, help="torch / numpy seed of the training loop")
    p.add_argument("--out", default="Sources/HemoInference/DefaultModel/hemo-default.onnx",
                   help="ONNX file to write; the sidecar goes beside it with a .json extension")
    return p.parse_args()


# ----------------------------------------------------------------------------------------------
# Data


def synth_cohort(hemo, folder, seed, cases, positive_fraction, threads, thickness_range, mimics=False):
    if os.path.exists(os.path.join(folder, "weak_labels.csv")):
        return
    if seed < 1000:
        sys.exit(f"training seed {seed} is below 1000: seeds < 1000 are reserved for evaluation")
    cmd = [hemo, "synth", "--out", folder, "--cases", str(cases), "--seed", str(seed),
           "--positive-fraction", str(positive_fraction), "--annotations", "labelmap",
           "--gzip-level", "1", "--threads", str(threads), "--slice-thickness-range", thickness_range]
    if mimics:
        cmd.append("--real-scan-mimics")
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def resize_bilinear(x, size):
    """Bilinear, half-pixel centres, no antialias (the sidecar's rule). x: [N, C, H, W] float32."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


def window_channels(hu):
    """hu: [N, 1, H, W] float32 HU -> [N, 3, H, W] in [0, 1]."""
    chans = [((hu - (level - width / 2.0)) / width).clamp_(0.0, 1.0) for _, width, level in WINDOWS]
    return torch.cat(chans, 1)


def load_cohort(folder, max_slices=48):
    """Returns per-slice HU on the 256 grid (float16 [S,256,256]) and 512 label maps (uint8 [S,512,512]).

    The tensors are cached beside the cohort (keyed by max_slices and the mtime of its
    weak_labels.csv, which `hemo synth` writes last), so the later stages skip decompressing it again."""
    stamp = os.stat(os.path.join(folder, "weak_labels.csv")).st_mtime_ns
    cache = os.path.join(folder, f".train-cache-{max_slices}-{stamp}.pt")
    if os.path.exists(cache):
        cached = torch.load(cache)
        return cached["hu"], cached["labels"]
    hu, labels = load_cohort_files(folder, max_slices)
    torch.save({"hu": hu, "labels": labels}, cache + ".tmp")
    os.replace(cache + ".tmp", cache)
    return hu, labels


def load_cohort_files(folder, max_slices):
    """load_cohort without the cache: decompress and resize every case."""
    hus, labs = [], []
    cases = sorted(d for d in os.listdir(folder) if os.path.isfile(os.path.join(folder, d, "ct.nii.gz")))
    for case in cases:
        ct = np.asarray(nib.load(os.path.join(folder, case, "ct.nii.gz")).dataobj).astype(np.float32)
        lab = np.asarray(nib.load(os.path.join(folder, case, "labelmap.nii.gz")).dataobj).astype(np.uint8)
        if ct.shape[:2] != (512, 512):
            sys.exit(f"{folder}/{case}: training expects 512 x 512 slices, got {ct.shape[:2]}")
        # Thin series: every n-th slice is enough (neighbours are nearly identical).
        stride = -(-ct.shape[2] // max_slices)
        if stride > 1:
            ct, lab = ct[:, :, ::stride], lab[:, :, ::stride]
        # NIfTI array [i, j, k] -> slices [k, j (rows, H), i (columns, W)].
        ct_t = torch.from_numpy(np.ascontiguousarray(ct.transpose(2, 1, 0)))[:, None]
        hus.append(resize_bilinear(ct_t, (INPUT_SIZE, INPUT_SIZE))[:, 0].half())
        labs.append(torch.from_numpy(np.ascontiguousarray(lab.transpose(2, 1, 0))))
    return torch.cat(hus), torch.cat(labs)


# ----------------------------------------------------------------------------------------------
# Model


def conv_block(cin, cout):
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class HemoUNet(nn.Module):
    """2D U-Net: 5 levels, ConvTranspose up-sampling, 6-class segmentation logits and 6 slice logits."""

    def __init__(self, widths=(4, 8, 16, 32, 64)):
        super().__init__()
        self.widths = widths
        self.encoders = nn.ModuleList()
        prev = len(WINDOWS)
        for w in widths:
            self.encoders.append(conv_block(prev, w))
            prev = w
        self.ups, self.decoders = nn.ModuleList(), nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.ups.append(nn.ConvTranspose2d(prev, w, 2, stride=2))
            self.decoders.append(conv_block(2 * w, w))
            prev = w
        self.seg_head = nn.Conv2d(prev, 6, 1)
        # Fixed 1x1 conv: channel c-1 = logit_c - logit_0 (c = 1..5), channel 5+c-1 = same - 2.
        self.margin = nn.Conv2d(6, 10, 1)
        with torch.no_grad():
            self.margin.weight.zero_()
            for c in range(1, 6):
                for off, bias in ((0, 0.0), (5, -2.0)):
                    self.margin.weight[off + c - 1, c, 0, 0] = 1.0
                    self.margin.weight[off + c - 1, 0, 0, 0] = -1.0
                    self.margin.bias[off + c - 1] = bias
        self.margin.requires_grad_(False)
        self.cls_head = nn.Linear(10, 6)

    def segment(self, x):
        skips = []
        for i, enc in enumerate(self.encoders):
            if i:
                x = F.max_pool2d(x, 2)
            x = enc(x)
            skips.append(x)
        for up, dec, skip in zip(self.ups, self.decoders, reversed(skips[:-1])):
            x = dec(torch.cat([up(x), skip], 1))
        return self.seg_head(x)

    def slice_features(self, seg):
        return F.adaptive_avg_pool2d(F.relu(self.margin(seg)), 1).flatten(1)

    def forward(self, x):
        seg = self.segment(x)
        return seg, self.cls_head(self.slice_features(seg))


def load_onnx_weights(model, path):
    """Load an exported model (batch norm folded into the convolutions) into `model`.

    Every BatchNorm becomes an exact per-channel bias: weight 1, running mean 0, running variance
    1 - eps, bias = the folded convolution bias; the caller keeps those layers in eval mode.
    """
    import onnx
    from onnx import numpy_helper
    graph = onnx.load(path).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    nodes = [n for n in graph.node if n.op_type in ("Conv", "ConvTranspose", "Gemm")]
    convs = []
    for enc in model.encoders:
        convs += [(enc[0], enc[1]), (enc[3], enc[4])]
    for up, dec in zip(model.ups, model.decoders):
        convs += [(up, None), (dec[0], dec[1]), (dec[3], dec[4])]
    convs += [(model.seg_head, None), (model.margin, None), (model.cls_head, None)]
    if len(nodes) != len(convs):
        sys.exit(f"{path}: {len(nodes)} weighted nodes, the model has {len(convs)}")
    with torch.no_grad():
        for node, (layer, bn) in zip(nodes, convs):
            w = torch.from_numpy(inits[node.input[1]].copy())
            b = torch.from_numpy(inits[node.input[2]].copy()) if len(node.input) > 2 else None
            if tuple(w.shape) != tuple(layer.weight.shape):
                sys.exit(f"{path}: node {node.name} weight {tuple(w.shape)} != {tuple(layer.weight.shape)}")
            layer.weight.copy_(w)
            if bn is None:
                layer.bias.copy_(b)
            else:
                bn.weight.fill_(1.0)
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
                bn.bias.copy_(b)


def freeze_batch_norm_statistics(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.eval()


# ----------------------------------------------------------------------------------------------
# Training


def class_index(lab512, stride=4):
    """Per subtype 1..5, (slice, y, x) of every `stride`-th voxel of that subtype (on the 512 grid)."""
    sub = lab512[:, ::stride, ::stride]
    out = {}
    for c in range(1, 6):
        idx = torch.nonzero(sub == c, as_tuple=True)
        if idx[0].numel():
            out[c] = (idx[0], idx[1] * stride, idx[2] * stride)
    return out


def make_batch(hu256, lab512, lesion_index, rng, batch, crop, subtype_weights=(1, 1, 1, 1, 1)):
    """Class-balanced crops: two in three centred on a voxel of a subtype drawn with odds
    `subtype_weights` (uniform by default)."""
    xs, ts = [], []
    n = hu256.shape[0]
    classes = sorted(lesion_index)
    odds = np.array([subtype_weights[c - 1] for c in classes], dtype=np.float64)
    odds = odds / odds.sum() if classes else odds
    for b in range(batch):
        if classes and b % 3 != 2:
            pick = int(rng.integers(len(classes))) if np.all(odds == odds[0]) else int(rng.choice(len(classes), p=odds))
            idx = lesion_index[classes[pick]]
            j = int(rng.integers(idx[0].numel()))
            s, cy, cx = (int(idx[d][j]) for d in range(3))
            cy, cx = cy // 2 + int(rng.integers(-crop // 3, crop // 3 + 1)), cx // 2 + int(rng.integers(-crop // 3, crop // 3 + 1))
        else:
            s = int(rng.integers(n))
            cy, cx = int(rng.integers(crop // 2, INPUT_SIZE - crop // 2 + 1)), int(rng.integers(crop // 2, INPUT_SIZE - crop // 2 + 1))
        y0 = min(max(cy - crop // 2, 0), INPUT_SIZE - crop)
        x0 = min(max(cx - crop // 2, 0), INPUT_SIZE - crop)
        x = hu256[s, y0:y0 + crop, x0:x0 + crop].float()
        t = lab512[s, 2 * y0:2 * (y0 + crop), 2 * x0:2 * (x0 + crop)].long()
        if rng.random() < 0.5:
            x, t = x.flip(-1), t.flip(-1)
        xs.append(x)
        ts.append(t)
    x = window_channels(torch.stack(xs)[:, None])
    onehot = F.one_hot(torch.stack(ts), 6).permute(0, 3, 1, 2).float()
    return x, F.avg_pool2d(onehot, 2)  # soft targets on the input grid


def seg_loss(logits, soft, class_weight, subtype_weights=(1, 1, 1, 1, 1)):
    """Class-weighted soft cross-entropy + mean soft Dice over the five subtypes + foreground Dice."""
    w = torch.tensor([1.0] + [class_weight * float(f) for f in subtype_weights]).view(1, 6, 1, 1)
    ce = -(w * soft * F.log_softmax(logits, 1)).sum(1).mean()
    p = F.softmax(logits, 1)
    dims = (0, 2, 3)
    inter = (p * soft).sum(dims)[1:]
    denom = (p.sum(dims) + soft.sum(dims))[1:]
    dice_c = 1.0 - (2.0 * inter + 1.0) / (denom + 1.0)
    fg_p, fg_t = 1.0 - p[:, 0], 1.0 - soft[:, 0]
    dice_fg = 1.0 - (2.0 * (fg_p * fg_t).sum() + 1.0) / (fg_p.sum() + fg_t.sum() + 1.0)
    return ce + dice_c.mean() + 0.5 * dice_fg


def slice_targets(lab512):
    present = torch.stack([(lab512 == c).flatten(1).any(1) for c in range(1, 6)], 1)
    return torch.cat([present.any(1, keepdim=True), present], 1).float()


def fit_cls_head(model, hu256, lab512, rng, per_class=120):
    """Logistic regression of the Gemm on features of full 256 x 256 slices."""
    targets = slice_targets(lab512)
    pos = torch.nonzero(targets[:, 0] > 0).flatten().numpy()
    neg = torch.nonzero(targets[:, 0] == 0).flatten().numpy()
    pick = np.concatenate([rng.choice(pos, min(per_class, len(pos)), replace=False),
                           rng.choice(neg, min(per_class, len(neg)), replace=False)])
    feats = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(pick), 16):
            idx = torch.from_numpy(pick[i:i + 16])
            feats.append(model.slice_features(model.segment(window_channels(hu256[idx].float()[:, None]))))
    f = torch.cat(feats)
    y = targets[torch.from_numpy(pick)]
    mean, std = f.mean(0), f.std(0).clamp_min(1e-6)
    z = (f - mean) / std
    lin = nn.Linear(10, 6)
    opt = torch.optim.LBFGS(lin.parameters(), lr=0.5, max_iter=200)

    def closure():
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(lin(z), y) + 1e-3 * lin.weight.pow(2).sum()
        loss.backward()
        return loss
    opt.step(closure)
    with torch.no_grad():
        acc = ((lin(z) > 0).float() == y).float().mean(0)
        # Fold the standardisation into the head: W (f - m)/s + b = (W/s) f + (b - W m/s).
        model.cls_head.weight.copy_(lin.weight / std)
        model.cls_head.bias.copy_(lin.bias - (lin.weight * (mean / std)).sum(1))
    print(f"cls head fitted on {len(pick)} slices; training accuracy per output {acc.numpy().round(3)}", flush=True)


def main():
    args = parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    seeds = [int(s) for s in args.train_seeds.split(",")]
    os.makedirs(args.work, exist_ok=True)
    t0 = time.time()
    hus, labs = [], []
    for s in seeds:
        folder = os.path.join(args.work, f"train-{s}" + ("-mimics" if args.real_scan_mimics else ""))
        synth_cohort(args.hemo, folder, s, args.cases_per_seed, args.positive_fraction, args.threads, args.thickness_range,
                     args.real_scan_mimics)
        h, l = load_cohort(folder, args.max_slices)
        hus.append(h)
        labs.append(l)
    normal_seeds = [int(s) for s in args.normal_seeds.split(",") if s.strip()]
    for s in normal_seeds:
        if s in seeds:
            sys.exit(f"--normal-seeds {s} is also a --train-seeds seed")
        folder = os.path.join(args.work, f"normal-{s}" + ("-mimics" if args.real_scan_mimics else ""))
        synth_cohort(args.hemo, folder, s, args.normal_cases_per_seed, 0.0, args.threads, args.thickness_range,
                     args.real_scan_mimics)
        h, l = load_cohort(folder, args.max_slices)
        if bool((l > 0).any()):
            sys.exit(f"{folder}: a normal-head cohort (--positive-fraction 0) holds blood in its label maps")
        hus.append(h)
        labs.append(l)
    hu256, lab512 = torch.cat(hus), torch.cat(labs)
    lesion_index = class_index(lab512)
    print("training voxels per subtype (every 4th row and column): "
          + ", ".join(f"{SUBTYPES[c - 1]} {lesion_index[c][0].numel()}" for c in sorted(lesion_index)), flush=True)
    print(f"data: {hu256.shape[0]} slices, {int((lab512 > 0).flatten(1).any(1).sum())} with lesion, "
          f"loaded in {time.time() - t0:.0f} s", flush=True)

    subtype_weights = tuple(float(v) for v in args.subtype_weights.split(","))
    if len(subtype_weights) != 5 or min(subtype_weights) <= 0:
        sys.exit(f"--subtype-weights {args.subtype_weights}: five positive numbers (EPH,SDH,SAH,IPH,IVH)")
    model = HemoUNet(tuple(int(w) for w in args.widths.split(",")))
    params = sum(p.numel() for p in model.parameters())
    print(f"model: widths {model.widths}, {params} parameters", flush=True)
    if args.init_onnx:
        load_onnx_weights(model, args.init_onnx)
        print(f"warm start from {args.init_onnx}", flush=True)
        for enc in list(model.encoders)[:args.freeze_levels]:
            enc.requires_grad_(False)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=args.lr, weight_decay=1e-4)
    t_train = time.time()
    step, ema = 0, None
    model.train()
    if args.init_onnx:
        freeze_batch_norm_statistics(model)
    while step < args.steps:
        frac = step / args.steps
        lr = args.lr * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * frac))) * min(1.0, (step + 1) / 10)
        for g in opt.param_groups:
            g["lr"] = lr
        x, soft = make_batch(hu256, lab512, lesion_index, rng, args.batch, args.crop, subtype_weights)
        seg = model.segment(x)
        loss = seg_loss(seg, soft, args.class_weight, subtype_weights)
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        ema = loss.item() if ema is None else 0.9 * ema + 0.1 * loss.item()
        if step % 10 == 0:
            print(f"step {step} t={time.time() - t_train:.0f}s lr={lr:.2e} loss(ema)={ema:.4f}", flush=True)
    train_seconds = time.time() - t_train
    print(f"trained {step} steps in {train_seconds:.0f} s", flush=True)
    fit_cls_head(model, hu256, lab512, rng, args.cls_slices)

    model.eval()
    out = args.out
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    dummy = torch.zeros(1, len(WINDOWS), INPUT_SIZE, INPUT_SIZE)
    import inspect
    # The TorchScript exporter (torch >= 2.9 defaults to the torch.export one, which needs onnxscript).
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
    torch.onnx.export(model, dummy, out, opset_version=13, input_names=["image"], **legacy,
                      output_names=["seg_logits", "cls_logits"],
                      dynamic_axes={"image": {0: "batch", 2: "height", 3: "width"},
                                    "seg_logits": {0: "batch", 2: "height", 3: "width"},
                                    "cls_logits": {0: "batch"}},
                      do_constant_folding=True)
    size = os.path.getsize(out)
    print(f"wrote {out} ({size} bytes)", flush=True)
    sidecar_path = os.path.splitext(out)[0] + ".json"
    default_model_sidecar.write_sidecar(sidecar_path, make_sidecar(args, seeds, step, train_seconds, params))
    print(f"wrote {sidecar_path} (format_version {default_model_sidecar.FORMAT_VERSION}; its filter holds the "
          f"shipped model's calibrated values until calibrate-default-model.py --write-sidecar recalibrates it)", flush=True)
    print(f"total {time.time() - t0:.0f} s", flush=True)


def sha256(path):
    import hashlib
    with open(path, "rb") as fh:
        return hashlib.sha256(fh.read()).hexdigest()


def make_sidecar(args, seeds, steps, train_seconds, params):
    """The format-2 sidecar of the model this run exported (default filter: the shipped model's)."""
    training = {
        "script": "scripts/training/train-default-model.py (via scripts/training/train-default-model.sh)",
        "data": f"hemo synth, seeds {seeds}, {args.cases_per_seed} cases each, 512 x 512, positive fraction {args.positive_fraction}, annotations labelmap"
                + (f"; normal heads only (positive fraction 0): seeds {args.normal_seeds}, {args.normal_cases_per_seed} cases each"
                   if args.normal_seeds.strip() else ""),
        "held_out": "seed 77 (20 exams) and seeds >= 5000 are evaluation only",
        "crop": args.crop, "batch": args.batch, "steps": steps, "lr": args.lr, "optimizer": "AdamW, cosine",
        "loss": f"class-weighted soft cross-entropy (subtypes x{args.class_weight:g}) + mean per-subtype soft Dice + 0.5 foreground soft Dice",
        "class_balancing": "2 of 3 crops centred on a voxel of a subtype drawn with odds EPH,SDH,SAH,IPH,IVH = " + args.subtype_weights,
        "subtype_weights": args.subtype_weights,
        "slice_thickness_range_mm": args.thickness_range,
        "real_scan_mimics": bool(args.real_scan_mimics),
        "warm_start": args.init_onnx and f"{os.path.basename(args.init_onnx)} (sha256 {sha256(args.init_onnx)})",
        "frozen_encoder_levels": args.freeze_levels if args.init_onnx else 0,
        "torch_seed": args.seed, "train_seconds": round(train_seconds), "threads": args.threads,
        "cls_head": f"logistic regression on {2 * args.cls_slices} full training slices after the U-Net",
    }
    return default_model_sidecar.make_sidecar(args.out, args.widths, params, training)


if __name__ == "__main__":
    main()
