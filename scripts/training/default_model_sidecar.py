#!/usr/bin/env python3
"""The JSON sidecar (format version 2) of HemoCluster's default model, shared by
scripts/training/train-default-model.py (which writes it after the export) and
scripts/training/calibrate-default-model.py (which rewrites its `postprocess.filter` with calibrated values).

The format is the one Sources/HemoPseudoLabel/ModelSidecar.swift reads and
Sources/HemoPseudoLabel/Documentation.docc/ModelSidecar.md describes. Only the standard library is
imported here, so the sidecar can be produced and checked without torch:

  python3 scripts/training/default_model_sidecar.py --write /tmp/m/hemo-default.json [--from-sidecar OLD.json]

writes a sidecar with the training fields filled with placeholders (for checking the format with
`hemo infer --model /tmp/m/hemo-default.onnx`, the ONNX file copied beside it).
"""
import argparse
import json
import os

SUBTYPES = ["EPH", "SDH", "SAH", "IPH", "IVH"]
# (name, width, level) in HU; channel value = clip((HU - (level - width/2)) / width, 0, 1).
WINDOWS = [("brain", 80.0, 40.0), ("subdural", 200.0, 80.0), ("blood", 40.0, 60.0)]
INPUT_SIZE = 256
FORMAT_NAME = "hemocluster-model-sidecar"
FORMAT_VERSION = 2

# The filter calibrated for the shipped default model (scripts/training/calibrate-default-model.py on the
# validation cohorts `hemo synth --cases 20 --seed 3000` and `--seed 3001`). A newly trained model
# starts from these values; scripts/training/train-default-model.sh then recalibrates them for that model
# (calibrate-default-model.py --write-sidecar). To recalibrate by hand:
#   hemo synth --out /tmp/val-3000 --cases 20 --seed 3000
#   hemo synth --out /tmp/val-3001 --cases 20 --seed 3001
#   python3 scripts/training/calibrate-default-model.py --model MODEL.onnx --cohort /tmp/val-3000 \
#       --cohort /tmp/val-3001 --write-sidecar
CALIBRATED_MIN_COMPONENT_PIXELS = 100
CALIBRATED_MIN_COMPONENT_SCORE = 0.4
CALIBRATED_MIN_SLICE_P_ANY = 0.0
VALIDATION_COHORTS = "hemo synth --cases 20 --seed 3000 and --seed 3001 (validation; never training, never held-out)"
CALIBRATION_CRITERION = "slice F1 (any) + min(pooled Dice, 0.85) over a grid of uniform rules"
# Appended with calibrate-default-model.py --normal-fp-budget-ml.
CALIBRATION_BUDGET = (", among those keeping at most normal_fp_budget_ml of predicted blood on every normal validation exam "
                      "(when none does, the quietest)")
RECALIBRATE = ("python3 scripts/training/calibrate-default-model.py --model MODEL.onnx --cohort <hemo synth --cases 20 --seed 3000> "
               "--cohort <hemo synth --cases 20 --seed 3001> --write-sidecar")
FILTER_ORDER = ("3D lesions (26-connected) below min_lesion_voxels, then per slice: all components when p_any < min_slice_p_any, "
                "else 8-connected components below min_component_pixels or with a mean winner softmax probability below "
                "min_component_score; removed voxels become background")


def make_filter(min_component_pixels, min_component_score, min_slice_p_any, calibration, min_lesion_voxels=0):
    """The `postprocess.filter` object: uniform (int) or per-subtype (list of 5) pixel and voxel
    minimums, the score and p_any gates, and `calibration` (a dict saying where the values come from)."""
    def per_subtype(value):
        values = value if isinstance(value, (list, tuple)) else [value] * len(SUBTYPES)
        assert len(values) == len(SUBTYPES) and all(int(v) == v and v >= 0 for v in values), values
        return {name: int(v) for name, v in zip(SUBTYPES, values)}
    assert 0.0 <= min_component_score <= 1.0 and 0.0 <= min_slice_p_any <= 1.0
    return {
        "min_lesion_voxels": per_subtype(min_lesion_voxels),
        "min_component_pixels": per_subtype(min_component_pixels),
        "min_component_score": float(min_component_score),
        "min_slice_p_any": float(min_slice_p_any),
        "order": FILTER_ORDER,
        "calibration": calibration,
    }


def default_filter():
    """The filter a newly trained model gets before it is recalibrated: the shipped model's values."""
    return make_filter(CALIBRATED_MIN_COMPONENT_PIXELS, CALIBRATED_MIN_COMPONENT_SCORE, CALIBRATED_MIN_SLICE_P_ANY, {
        "script": "scripts/training/calibrate-default-model.py",
        "cohorts": VALIDATION_COHORTS,
        "criterion": CALIBRATION_CRITERION,
        "status": "defaults: the values calibrated for the shipped default model, not yet for this one; recalibrate with "
                  + RECALIBRATE + " (scripts/training/train-default-model.sh does this after training)",
    })


def make_sidecar(model_file, widths, parameters, training, postprocess_filter=None):
    """The whole sidecar (format version 2) for `model_file` (its base name), a U-Net with `widths`
    (e.g. "4,8,16,32,64") and `parameters` parameters; `training` is the provenance object; the
    filter defaults to ``default_filter()``."""
    return {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model": {"file": os.path.basename(model_file), "architecture": "2D U-Net, 5 levels, widths " + widths.replace(",", "-"),
                  "parameters": parameters, "opset": 13},
        "input": {
            "name": "image",
            "layout": "NCHW",
            "dtype": "float32",
            "height": INPUT_SIZE,
            "width": INPUT_SIZE,
            "axes": {"H": "NIfTI j (row, y)", "W": "NIfTI i (column, x)", "slice": "NIfTI k"},
            "size_multiple": 16,
            "resize": {"method": "bilinear", "coordinates": "half_pixel", "antialias": False,
                       "source_clamp": "src = max((dst + 0.5) * in / out - 0.5, 0); i0 = min(floor(src), in - 1); i1 = min(i0 + 1, in - 1); value = (1 - (src - i0)) * a[i0] + (src - i0) * a[i1]",
                       "applied_to": "HU as float32, before windowing"},
            "channels": [{"index": i, "name": n, "window_width": w, "window_level": l,
                          "formula": f"clip((HU - {l - w / 2:g}) / {w:g}, 0, 1)"}
                         for i, (n, w, l) in enumerate(WINDOWS)],
            "normalization": {"after_window": "none", "mean": None, "std": None},
            "hu_source": "NIfTI voxel * scl_slope + scl_inter (slope 0 means 1)",
        },
        "outputs": {
            "seg_logits": {"shape": ["N", 6, "H", "W"],
                           "classes": ["background"] + SUBTYPES, "class_values": [0, 1, 2, 3, 4, 5],
                           "kind": "logits"},
            "cls_logits": {"shape": ["N", 6], "labels": ["any"] + SUBTYPES, "kind": "logits",
                           "probability": "sigmoid"},
        },
        "postprocess": {
            "mask": {"resize_logits": {"method": "bilinear", "coordinates": "half_pixel", "antialias": False,
                                        "target": "the CT slice grid (I x J)"},
                     "decision": "argmax over the 6 classes at every voxel; ties go to the lowest class index",
                     "label_map": "argmax value 0..5"},
            "slice_probabilities": "p = sigmoid(cls_logits), order any, EPH, SDH, SAH, IPH, IVH",
            "slice_labels": {"rule": "mask",
                             "text": "label(subtype, slice) = 1 iff the slice's filtered label map has at least one voxel of that subtype; any = OR of the five. The probabilities are reported, not thresholded, so labels always agree with the masks.",
                             "probability_threshold_for_reporting_only": 0.5},
            "filter": postprocess_filter if postprocess_filter is not None else default_filter(),
        },
        "training": training,
    }


def write_sidecar(path, sidecar):
    """Writes `sidecar` as indented JSON to `path` through a temporary file and a rename."""
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as fh:
        json.dump(sidecar, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--write", required=True, help="sidecar file to write (MODEL.json)")
    p.add_argument("--from-sidecar", help="take the model's parameter count and training provenance from this sidecar")
    p.add_argument("--widths", default="4,8,16,32,64")
    args = p.parse_args()
    parameters, training = 0, {"note": "written by scripts/training/default_model_sidecar.py --write, not by a training run"}
    if args.from_sidecar:
        with open(args.from_sidecar) as fh:
            old = json.load(fh)
        parameters, training = old["model"]["parameters"], old.get("training", training)
    model_file = os.path.splitext(os.path.basename(args.write))[0] + ".onnx"
    write_sidecar(args.write, make_sidecar(model_file, args.widths, parameters, training))
    print(f"wrote {args.write} (format_version {FORMAT_VERSION})")


if __name__ == "__main__":
    main()
