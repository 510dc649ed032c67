#!/usr/bin/env python3
"""Loads a HemoCluster release with nnU-Net v2's own code and exits non-zero if nnU-Net rejects it.

Run by scripts/peers/check-nnunet.sh inside its virtualenv, with nnUNet_raw, nnUNet_preprocessed and
nnUNet_results already set and the release placed as $nnUNet_raw/Dataset<ID>_<NAME>/.

Steps, all through nnunetv2's functions (nothing here re-implements nnU-Net's rules):
 1. maybe_convert_to_dataset_name(ID) finds the dataset folder by its id, as nnUNetv2_* commands do;
 2. verify_dataset_integrity(folder, num_processes=1): nnU-Net's full integrity check (required
    keys, numTraining, a label file per case, consecutive label values, label values found in
    the files, shapes, spacings, channels, NaNs); it raises on what it rejects;
 3. load_json(dataset.json), get_filenames_of_train_images_and_targets(): every case's image list
    and label path, compared with numTraining, channel_names and the files on disk;
 4. LabelManager(labels): label values, foreground labels, regions, segmentation heads, and the
    label names and values the release format fixes;
 5. determine_reader_writer_from_dataset_json(): the image reader nnU-Net will use;
 6. check_cases() again in this process, to catch the geometry *warnings* (affine, origin,
    direction mismatch between image and label) that verify_dataset_integrity only prints;
 7. DatasetFingerprintExtractor(ID).run(): the first step of nnUNetv2_plan_and_preprocess, which
    reads every case, crops it and samples the image's intensities under the foreground labels
    (written to $nnUNet_preprocessed). With --expect-foreground-hu LO HI those samples must all
    lie in [LO, HI], which on a synthetic cohort shows nnU-Net sees labels and images aligned.

Usage: nnunet-load-dataset.py DATASET_ID [--no-fingerprint] [--expect-foreground-hu LO HI]
"""
import argparse
import contextlib
import io
import os
import sys
import time
import traceback

EXPECTED_LABELS = {"background": 0, "EPH": 1, "SDH": 2, "SAH": 3, "IPH": 4, "IVH": 5}


def fail(message: str) -> None:
    print(f"nnU-Net check FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def main() -> int:
    parser = argparse.ArgumentParser(description="Load a release placed in $nnUNet_raw with nnU-Net v2.")
    parser.add_argument("dataset_id", type=int, help="the dataset id, e.g. 901 for Dataset901_HemoCluster")
    parser.add_argument("--no-fingerprint", action="store_true", help="skip the fingerprint extraction")
    parser.add_argument("--expect-foreground-hu", nargs=2, type=float, metavar=("LO", "HI"),
                        help="fail unless every foreground intensity nnU-Net samples lies in [LO, HI]")
    args = parser.parse_args()
    dataset_id = args.dataset_id
    started = time.monotonic()

    import nnunetv2
    from batchgenerators.utilities.file_and_folder_operations import join, load_json
    from nnunetv2.experiment_planning.verify_dataset_integrity import check_cases, verify_dataset_integrity
    from nnunetv2.imageio.reader_writer_registry import determine_reader_writer_from_dataset_json
    from nnunetv2.paths import nnUNet_raw
    from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name
    from nnunetv2.utilities.label_handling.label_handling import LabelManager
    from nnunetv2.utilities.utils import get_filenames_of_train_images_and_targets

    try:
        from importlib.metadata import version
        nnunet_version = version("nnunetv2")
    except Exception:  # pragma: no cover - metadata missing only in odd installs
        nnunet_version = getattr(nnunetv2, "__version__", "unknown")
    import torch
    print(f"nnunetv2 {nnunet_version}, torch {torch.__version__}, python {sys.version.split()[0]}")

    # 1. Find the dataset by id, as nnUNetv2_plan_and_preprocess -d ID would.
    dataset_name = maybe_convert_to_dataset_name(dataset_id)
    folder = join(nnUNet_raw, dataset_name)
    print(f"dataset {dataset_id} -> {dataset_name} ({folder})")

    # 2. nnU-Net's own integrity check first, so that whatever it rejects is reported in its words.
    verify_dataset_integrity(folder, num_processes=1)

    # 3. dataset.json and the case list nnU-Net derives from imagesTr/labelsTr.
    dataset_json = load_json(join(folder, "dataset.json"))
    cases = get_filenames_of_train_images_and_targets(folder, dataset_json)
    if len(cases) != dataset_json["numTraining"]:
        fail(f"numTraining is {dataset_json['numTraining']} but nnU-Net found {len(cases)} cases in imagesTr")
    channels = len(dataset_json["channel_names"])
    for case, entry in cases.items():
        if len(entry["images"]) != channels:
            fail(f"{case}: nnU-Net found {len(entry['images'])} image files, channel_names has {channels}")
        missing = [p for p in entry["images"] + [entry["label"]] if not os.path.isfile(p)]
        if missing:
            fail(f"{case}: missing {missing}")
    print(f"cases: {len(cases)} (numTraining {dataset_json['numTraining']}), channels {dataset_json['channel_names']}")

    # 4. Labels as nnU-Net's LabelManager reads them.
    label_manager = LabelManager(dataset_json["labels"], regions_class_order=dataset_json.get("regions_class_order"))
    if label_manager.has_regions or label_manager.has_ignore_label:
        fail(f"unexpected regions/ignore label in {dataset_json['labels']}")
    if label_manager.all_labels != sorted(EXPECTED_LABELS.values()):
        fail(f"LabelManager labels {label_manager.all_labels}, expected {sorted(EXPECTED_LABELS.values())}")
    if dict(dataset_json["labels"]) != EXPECTED_LABELS:
        fail(f"labels {dataset_json['labels']} differ from the release format's {EXPECTED_LABELS}")
    print(f"LabelManager: labels {label_manager.all_labels}, foreground {label_manager.foreground_labels}, "
          f"segmentation heads {label_manager.num_segmentation_heads}")

    # 5. The reader nnU-Net picks for our file ending.
    first_image = next(iter(cases.values()))["images"][0]
    reader_writer = determine_reader_writer_from_dataset_json(dataset_json, first_image, verbose=False)
    print(f"reader/writer: {reader_writer.__name__}")

    # 6. The geometry mismatches verify_dataset_integrity only warns about.
    warnings = []
    for case, entry in cases.items():
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured):
            ok = check_cases(entry["images"], entry["label"], channels, reader_writer)
        text = captured.getvalue().strip()
        if not ok or text:
            warnings.append(f"{case}:\n{text}")
    if warnings:
        fail("nnU-Net reported image/label geometry problems:\n" + "\n".join(warnings))

    # 7. The fingerprint nnUNetv2_plan_and_preprocess starts with.
    fingerprint_note = "no fingerprint"
    if not args.no_fingerprint:
        from nnunetv2.experiment_planning.dataset_fingerprint.fingerprint_extractor import DatasetFingerprintExtractor
        extractor = DatasetFingerprintExtractor(dataset_id, num_processes=1, verbose=False)
        extractor.show_progress_bar = False
        fingerprint = extractor.run(overwrite_existing=True)
        intensities = fingerprint["foreground_intensity_properties_per_channel"]
        ct = intensities.get(0, intensities.get("0"))
        import numpy as np
        spacing = np.median(np.array(fingerprint["spacings"]), axis=0).round(3).tolist()
        shape = np.median(np.array(fingerprint["shapes_after_crop"]), axis=0).tolist()
        print(f"fingerprint: {len(fingerprint['spacings'])} cases, median spacing {spacing}, median shape after crop {shape}, "
              f"foreground HU min {ct['min']:.1f} median {ct['median']:.1f} max {ct['max']:.1f}")
        if args.expect_foreground_hu:
            lo, hi = args.expect_foreground_hu
            if not (lo <= ct["min"] and ct["max"] <= hi):
                fail(f"nnU-Net sampled foreground intensities {ct['min']}..{ct['max']} HU, expected within {lo}..{hi}: "
                     "labels and images do not line up as nnU-Net reads them")
        fingerprint_note = f"fingerprint foreground HU {ct['min']:.0f}..{ct['max']:.0f}"

    elapsed = time.monotonic() - started
    print(f"nnU-Net v2 OK: {dataset_name} accepted by verify_dataset_integrity "
          f"({len(cases)} cases, labels 0-{max(label_manager.all_labels)}, reader {reader_writer.__name__}, "
          f"{fingerprint_note}, nnunetv2 {nnunet_version}, {elapsed:.1f} s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SystemExit:
        raise
    except BaseException:  # nnU-Net signals rejection with AssertionError/RuntimeError/...: show it and fail
        traceback.print_exc()
        print("nnU-Net check FAILED: nnU-Net raised the error above", file=sys.stderr)
        sys.exit(1)
