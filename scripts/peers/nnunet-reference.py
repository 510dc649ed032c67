#!/usr/bin/env python3
"""A tiny nnU-Net v2 model on a synthetic cohort, for comparing `hemo infer` with `nnUNetv2_predict`.

Run by scripts/peers/nnunet-tiny-model.sh (system tests 62 and 64) and scripts/bench/nnunet.sh inside the
nnU-Net virtualenv (see scripts/peers/check-nnunet.sh), with nnUNet_raw, nnUNet_preprocessed and
nnUNet_results set to a work folder.

Subcommands:

  cohort OUT --cases N --size Z Y X [--seed S] [--test-spacing Z Y X]
      Writes a raw cohort in hemo's layout (OUT/cohort/<case>/ct.nii.gz, int16 HU, spacing
      1 x 1 x 2 mm or the --test-spacing given (mm, z y x), identity direction) with round "bleeds" of 50..80 HU in a brain of 20..40 HU,
      the same CTs as nnU-Net's test inputs (OUT/nnunet_in/<case>_0000.nii.gz, symlinks) and a
      training set in $nnUNet_raw/Dataset950_HemoTiny (imagesTr/labelsTr, dataset.json).
      Case 0 has a zero-valued border so that nnU-Net's crop to the non-zero box is exercised.

  model --configuration 3d_fullres|2d --folds 0,1 [--steps 40] [--features 4,8,16] [--patch 16,32,32]
      Plans the dataset with nnU-Net's own fingerprint extractor and planner, shrinks the network
      (3 stages, 4..16 features) and the patch, then trains each fold briefly (Adam, a fixed torch
      seed per fold) on random patches, and saves nnU-Net trained-model folders
      ($nnUNet_results/Dataset950_HemoTiny/nnUNetTrainer__nnUNetPlans__C/fold_k/checkpoint_final.pth)
      that nnUNetv2_predict loads as it loads any trained model. The training is a few hundred
      milliseconds of optimisation, enough for decisive logits; it is not nnU-Net's trainer.

  compare --reference REF --hemo PRED --release REL [--min-agree 0.999] [--max-prob-diff 1e-3]
          [--model-folder RESULTS/TRAINER__PLANS__CONFIG [--floor-prob-diff 2e-2]]
      REF: nnUNetv2_predict's output folder (run with --save_probabilities); PRED: a folder of
      `hemo model predict` outputs (<case>.probabilities.npy, float32 C x Z x Y x X); REL: the
      `hemo infer` release. Prints, per case and in total, the fraction of voxels with the same
      label (release label map vs nnU-Net's segmentation) and the largest softmax difference;
      exits 1 when a figure misses its bound.
"""
import argparse
import glob
import json
import os
import sys
import time

import nibabel as nib
import numpy as np

DATASET = "Dataset950_HemoTiny"
LABELS = {"background": 0, "EPH": 1, "SDH": 2, "SAH": 3, "IPH": 4, "IVH": 5}


def make_case(index, shape, seed):
    """One synthetic CT (HU, z y x) and its label map: air, a skull shell, brain, 1..3 bleeds."""
    rng = np.random.default_rng(seed * 1000 + index)
    z, y, x = shape
    zz, yy, xx = np.meshgrid(np.arange(z) * 2.0, np.arange(y) * 1.0, np.arange(x) * 1.0, indexing="ij")
    cz, cy, cx = (z - 1), (y - 1) / 2, (x - 1) / 2
    r = np.sqrt(((zz - cz) / (z * 1.2)) ** 2 + ((yy - cy) / (y * 0.45)) ** 2 + ((xx - cx) / (x * 0.45)) ** 2)
    ct = np.full(shape, -1000.0)
    ct[r < 1.0] = 900.0
    ct[r < 0.88] = 30.0
    ct += rng.normal(0, 6, shape)
    label = np.zeros(shape, dtype=np.uint8)
    for b in range(1 + index % 3):
        bz, by, bx = rng.uniform(0.3, 0.7) * 2 * z, rng.uniform(0.3, 0.7) * y, rng.uniform(0.3, 0.7) * x
        rad = rng.uniform(4, 8)
        d = np.sqrt((zz - bz) ** 2 + (yy - by) ** 2 + (xx - bx) ** 2)
        blob = (d < rad) & (r < 0.85)
        ct[blob] = rng.uniform(55, 75) + rng.normal(0, 4, blob.sum())
        label[blob] = 1 + (index + b) % 5
    if index == 0:
        # A zero border (as some converters write outside the scan's field of view).
        ct[:, :3, :] = 0
        ct[:, :, -2:] = 0
    return np.round(ct).astype(np.int16), label


def save(volume_zyx, path, dtype, spacing_zyx=(2.0, 1.0, 1.0)):
    """Saves a z y x array as NIfTI (i = x fastest), spacing 1 x 1 x 2 mm unless told, identity direction."""
    affine = np.diag([spacing_zyx[2], spacing_zyx[1], spacing_zyx[0], 1.0])
    img = nib.Nifti1Image(np.ascontiguousarray(volume_zyx.transpose(2, 1, 0)).astype(dtype), affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    nib.save(img, path)


def cohort(args):
    out = os.path.abspath(args.out)
    shape = tuple(args.size)
    os.makedirs(os.path.join(out, "cohort"), exist_ok=True)
    os.makedirs(os.path.join(out, "nnunet_in"), exist_ok=True)
    for n in range(args.cases):
        case = f"case{n:03d}"
        ct, _ = make_case(n, shape, args.seed)
        os.makedirs(os.path.join(out, "cohort", case), exist_ok=True)
        path = os.path.join(out, "cohort", case, "ct.nii.gz")
        save(ct, path, np.int16, tuple(args.test_spacing))
        link = os.path.join(out, "nnunet_in", f"{case}_0000.nii.gz")
        if not os.path.exists(link):
            os.symlink(path, link)
    raw = os.path.join(os.environ["nnUNet_raw"], DATASET)
    os.makedirs(os.path.join(raw, "imagesTr"), exist_ok=True)
    os.makedirs(os.path.join(raw, "labelsTr"), exist_ok=True)
    for n in range(args.train_cases):
        case = f"train{n:03d}"
        ct, label = make_case(n + 100, shape, args.seed)
        save(ct, os.path.join(raw, "imagesTr", f"{case}_0000.nii.gz"), np.int16)
        save(label, os.path.join(raw, "labelsTr", f"{case}.nii.gz"), np.uint8)
    with open(os.path.join(raw, "dataset.json"), "w") as f:
        json.dump({"channel_names": {"0": "CT"}, "labels": LABELS, "numTraining": args.train_cases,
                   "file_ending": ".nii.gz", "name": "HemoTiny"}, f, indent=1)
    print(f"cohort: {args.cases} test cases {shape} in {out}, {args.train_cases} training cases in {raw}")


def plan():
    """nnU-Net's own fingerprint and plans (once)."""
    pre = os.path.join(os.environ["nnUNet_preprocessed"], DATASET, "nnUNetPlans.json")
    if os.path.exists(pre):
        return pre
    from nnunetv2.experiment_planning.plan_and_preprocess_api import extract_fingerprints, plan_experiments
    extract_fingerprints([950], num_processes=1, check_dataset_integrity=True, clean=True, verbose=False)
    plan_experiments([950])
    return pre


def model(args):
    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_json, save_json
    from nnunetv2.utilities.plans_handling.plans_handler import PlansManager
    from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer

    torch.set_num_threads(2)
    plans = load_json(plan())
    c = args.configuration
    cfg = plans["configurations"][c]
    dims = 3 if c.startswith("3d") else 2
    patch = args.patch or ([16, 32, 32] if dims == 3 else [32, 32])
    cfg["patch_size"] = patch[-dims:]
    features = args.features or ([4, 8, 16] if dims == 3 else [8, 16, 32])
    stages = len(features)
    arch = cfg["architecture"]["arch_kwargs"]
    arch["n_stages"] = stages
    arch["features_per_stage"] = features
    arch["kernel_sizes"] = [[3] * dims] * stages
    arch["strides"] = [[1] * dims] + [[2] * dims] * (stages - 1)
    arch["n_conv_per_stage"] = [2] * stages
    arch["n_conv_per_stage_decoder"] = [1] * (stages - 1)
    cfg["batch_size"] = 2
    plans["configurations"] = {c: cfg}
    pm = PlansManager(plans)
    cm = pm.get_configuration(c)
    raw = os.path.join(os.environ["nnUNet_raw"], DATASET)
    dataset_json = load_json(os.path.join(raw, "dataset.json"))
    folder = os.path.join(os.environ["nnUNet_results"], DATASET, f"nnUNetTrainer__nnUNetPlans__{c}")
    os.makedirs(folder, exist_ok=True)
    save_json(plans, os.path.join(folder, "plans.json"), sort_keys=False)
    save_json(dataset_json, os.path.join(folder, "dataset.json"), sort_keys=False)

    # Training data, normalised as nnU-Net's CTNormalization does (clip to the foreground
    # 0.5/99.5 percentiles, minus the mean, over the std, all from the plans' fingerprint).
    props = plans["foreground_intensity_properties_per_channel"]["0"]
    images, labels = [], []
    for path in sorted(glob.glob(os.path.join(raw, "imagesTr", "*_0000.nii.gz"))):
        img = np.asarray(nib.load(path).dataobj).transpose(2, 1, 0).astype(np.float32)
        lab = np.asarray(nib.load(path.replace("imagesTr", "labelsTr").replace("_0000", "")).dataobj).transpose(2, 1, 0)
        img = (np.clip(img, props["percentile_00_5"], props["percentile_99_5"]) - props["mean"]) / max(props["std"], 1e-8)
        images.append(img)
        labels.append(lab.astype(np.int64))
    patch = cfg["patch_size"]
    for fold in args.folds:
        torch.manual_seed(1234 + fold)
        rng = np.random.default_rng(99 + fold)
        net = nnUNetTrainer.build_network_architecture(pm, cm, 1, 6, enable_deep_supervision=False)
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        weights = torch.tensor([0.2, 1, 1, 1, 1, 1], dtype=torch.float32)
        started = time.monotonic()
        net.train()
        for step in range(args.steps):
            xs, ys = [], []
            for _ in range(2):
                n = rng.integers(len(images))
                img, lab = images[n], labels[n]
                if dims == 3:
                    o = [rng.integers(0, max(1, s - p + 1)) for s, p in zip(img.shape, patch)]
                    sl = tuple(slice(a, a + p) for a, p in zip(o, patch))
                    xi, yi = img[sl], lab[sl]
                    pad = [(0, p - s) for s, p in zip(xi.shape, patch)]
                    xi, yi = np.pad(xi, pad), np.pad(yi, pad)
                else:
                    k = rng.integers(img.shape[0])
                    o = [rng.integers(0, max(1, s - p + 1)) for s, p in zip(img.shape[1:], patch)]
                    sl = tuple(slice(a, a + p) for a, p in zip(o, patch))
                    xi, yi = img[k][sl], lab[k][sl]
                xs.append(xi[None])
                ys.append(yi)
            x = torch.from_numpy(np.stack(xs)).float()
            y = torch.from_numpy(np.stack(ys))
            loss = torch.nn.functional.cross_entropy(net(x), y, weight=weights)
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        os.makedirs(os.path.join(folder, f"fold_{fold}"), exist_ok=True)
        checkpoint = {
            "network_weights": net.state_dict(),
            "init_args": {"plans": plans, "configuration": c, "fold": fold, "dataset_json": dataset_json},
            "trainer_name": "nnUNetTrainer",
            "inference_allowed_mirroring_axes": tuple(range(dims)),
            "current_epoch": 1,
        }
        torch.save(checkpoint, os.path.join(folder, f"fold_{fold}", "checkpoint_final.pth"))
        print(f"model {c} fold {fold}: {args.steps} steps, last loss {loss.item() if args.steps else float('nan'):.3f}, "
              f"{time.monotonic() - started:.1f} s -> {folder}")


def half_precision_floor(model_folder, shape_zyx):
    """Voxels where nnUNetv2_predict's accumulator is subnormal in float16.

    nnU-Net 2.8 sums logits x Gaussian (scaled to a maximum of 10) and the Gaussian weights in
    float16. Where every covering patch sees the voxel only through its Gaussian's tail (a patch
    corner), the summed weight is below float16's smallest normal number (2**-14), so nnU-Net's
    weighted logits there carry a relative rounding error of several percent: the reference itself
    is not resolved to 1e-3 in probability. The weights are computed with nnU-Net's own
    compute_gaussian and compute_steps_for_sliding_window, from the model folder's plans (the
    cohort is at the plans' spacing with nothing to crop, as the system tests make it)."""
    import torch
    from batchgenerators.utilities.file_and_folder_operations import load_json
    from nnunetv2.inference.sliding_window_prediction import compute_gaussian, compute_steps_for_sliding_window
    plans = load_json(os.path.join(model_folder, "plans.json"))
    configuration = os.path.basename(os.path.normpath(model_folder)).split("__")[-1]
    patch = plans["configurations"][configuration]["patch_size"]
    gaussian = compute_gaussian(tuple(patch), sigma_scale=1. / 8, value_scaling_factor=10,
                                dtype=torch.float32, device=torch.device("cpu")).double().numpy()
    # nnU-Net pads an image smaller than the patch symmetrically (pad_nd_image) before tiling.
    tiled = list(shape_zyx[-len(patch):])
    padded = [max(n, p) for n, p in zip(tiled, patch)]
    lower = [(p - n) // 2 for n, p in zip(tiled, padded)]
    weights = np.zeros(tuple(shape_zyx[:-len(patch)]) + tuple(padded), dtype=np.float64)
    if len(patch) == 2:  # a 2d configuration tiles each slice
        steps = compute_steps_for_sliding_window(padded, patch, 0.5)
        for y in steps[0]:
            for x in steps[1]:
                weights[:, y:y + patch[0], x:x + patch[1]] += gaussian
    else:
        steps = compute_steps_for_sliding_window(padded, patch, 0.5)
        for z in steps[0]:
            for y in steps[1]:
                for x in steps[2]:
                    weights[z:z + patch[0], y:y + patch[1], x:x + patch[2]] += gaussian
    inside = tuple(slice(None) for _ in shape_zyx[:-len(patch)]) + tuple(
        slice(lo, lo + n) for lo, n in zip(lower, tiled))
    return weights[inside] < 2.0 ** -14


def compare(args):
    from batchgenerators.utilities.file_and_folder_operations import load_json
    total = same = 0
    worst = 0.0
    failures = []
    cases = sorted(os.path.basename(p)[: -len(".nii.gz")] for p in glob.glob(os.path.join(args.reference, "*.nii.gz")))
    if not cases:
        print(f"compare: no predictions in {args.reference}", file=sys.stderr)
        return 1
    for case in cases:
        ref = np.asarray(nib.load(os.path.join(args.reference, case + ".nii.gz")).dataobj)  # i j k
        mine = np.asarray(nib.load(os.path.join(args.release, "labelsTr", case + ".nii.gz")).dataobj)
        if ref.shape != mine.shape:
            failures.append(f"{case}: shapes {ref.shape} (nnU-Net) vs {mine.shape} (hemo)")
            continue
        agree = int((ref == mine).sum())
        if args.labels_only:
            total += ref.size
            same += agree
            continue
        prob_ref = np.load(os.path.join(args.reference, case + ".npz"))["probabilities"]  # C z y x
        prob_mine = np.load(os.path.join(args.hemo, case + ".probabilities.npy"))
        if prob_ref.shape != prob_mine.shape:
            failures.append(f"{case}: probability shapes {prob_ref.shape} (nnU-Net) vs {prob_mine.shape} (hemo)")
            continue
        per_voxel = np.abs(prob_ref.astype(np.float64) - prob_mine).max(axis=0)  # z y x
        floor_note = ""
        if args.model_folder:
            # Where nnU-Net's half-precision accumulator holds only subnormal numbers, its own
            # probabilities are not resolved to 1e-3: those voxels get the looser bound.
            subnormal = half_precision_floor(args.model_folder, per_voxel.shape)
            floor_diff = float(per_voxel[subnormal].max()) if subnormal.any() else 0.0
            floor_note = (f", {int(subnormal.sum())} voxels at nnU-Net's float16 floor: max |diff| {floor_diff:.2e}"
                          f" (bound {args.floor_prob_diff})")
            if floor_diff > args.floor_prob_diff:
                failures.append(f"{case}: softmax differs by {floor_diff:.2e} at nnU-Net's float16 floor")
            per_voxel = np.where(subnormal, 0.0, per_voxel)
        diff = float(per_voxel.max())
        print(f"  {case}: labels {agree}/{ref.size} = {agree / ref.size:.6f} equal, softmax max |diff| {diff:.2e}, "
              f"foreground voxels {int((ref > 0).sum())} (nnU-Net) {int((mine > 0).sum())} (hemo){floor_note}")
        total += ref.size
        same += agree
        worst = max(worst, diff)
    if total and not args.labels_only:
        print(f"{args.label}: {same}/{total} voxels = {same / total:.6f} same label; softmax max |diff| {worst:.2e} "
              f"(bounds: >= {args.min_agree}, <= {args.max_prob_diff})")
    if failures:
        print("\n".join(failures), file=sys.stderr)
        return 1
    if total and args.labels_only:
        print(f"{args.label}: {same}/{total} voxels = {same / total:.6f} same label")
    if total == 0 or same / total < args.min_agree or worst > args.max_prob_diff:
        print(f"{args.label}: FAILED", file=sys.stderr)
        return 1
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    a = sub.add_parser("cohort")
    a.add_argument("out")
    a.add_argument("--cases", type=int, default=3)
    a.add_argument("--train-cases", type=int, default=6)
    a.add_argument("--size", type=int, nargs=3, default=[12, 48, 40], metavar=("Z", "Y", "X"))
    a.add_argument("--seed", type=int, default=7)
    a.add_argument("--test-spacing", type=float, nargs=3, default=[2.0, 1.0, 1.0], metavar=("Z", "Y", "X"),
                   help="spacing of the test cases in mm (the training set keeps 2 x 1 x 1)")
    m = sub.add_parser("model")
    m.add_argument("--configuration", required=True, choices=["3d_fullres", "2d"])
    m.add_argument("--folds", type=lambda s: [int(v) for v in s.split(",")], default=[0])
    m.add_argument("--steps", type=int, default=40)
    m.add_argument("--features", type=lambda s: [int(v) for v in s.split(",")], help="features per stage (default 4,8,16 / 8,16,32)")
    m.add_argument("--patch", type=lambda s: [int(v) for v in s.split(",")], help="patch size z,y,x (default 16,32,32)")
    c = sub.add_parser("compare")
    c.add_argument("--reference", required=True)
    c.add_argument("--hemo", required=True)
    c.add_argument("--release", required=True)
    c.add_argument("--label", default="agreement")
    c.add_argument("--min-agree", type=float, default=0.999)
    c.add_argument("--max-prob-diff", type=float, default=1e-3)
    c.add_argument("--labels-only", action="store_true", help="compare the label maps only")
    c.add_argument("--model-folder", help="nnU-Net's trained-model folder (plans.json): voxels where its float16 "
                   "accumulator is subnormal are held to --floor-prob-diff instead of --max-prob-diff")
    c.add_argument("--floor-prob-diff", type=float, default=2e-2)
    args = p.parse_args()
    return {"cohort": cohort, "model": model, "compare": compare}[args.command](args) or 0


if __name__ == "__main__":
    sys.exit(main())
