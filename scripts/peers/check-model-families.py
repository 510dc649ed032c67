#!/usr/bin/env python3
"""Architectures of the zoo's families that the fixtures do not cover, checked end to end.

Exports each (random weights, seed 0, torch.onnx.export opset 17), runs onnxruntime and
`hemo model run`, and prints the worst |ours - ort| / max(1, |ort|) per model; exits 1 when one
fails to load or exceeds 1e-4. Needs the packages pinned in scripts/make-model-zoo-fixtures.py.

    python3 scripts/peers/check-model-families.py --hemo .build/debug/hemo [NAME...]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import warnings

warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402


def cases():
    import timm
    import segmentation_models_pytorch as smp
    from monai.networks import nets
    return {
        "convnext_atto": (lambda: timm.create_model("convnext_atto", num_classes=5), (1, 3, 64, 80)),
        "vit_tiny": (lambda: timm.create_model("vit_tiny_patch16_224", num_classes=5, img_size=96), (1, 3, 96, 96)),
        "regnetx_002": (lambda: timm.create_model("regnetx_002", num_classes=5), (1, 3, 64, 64)),
        "mobilenetv3_small": (lambda: timm.create_model("mobilenetv3_small_050", num_classes=5), (1, 3, 96, 96)),
        "smp_deeplabv3plus": (lambda: smp.DeepLabV3Plus(encoder_name="resnet18", encoder_weights=None, classes=3), (1, 3, 64, 64)),
        "smp_fpn_effnet": (lambda: smp.FPN(encoder_name="efficientnet-b0", encoder_weights=None, classes=3), (1, 3, 64, 64)),
        "monai_dynunet": (lambda: nets.DynUNet(3, 1, 2, kernel_size=[3, 3, 3], strides=[1, 2, 2], upsample_kernel_size=[2, 2],
                                               filters=[8, 16, 32]), (1, 1, 16, 24, 24)),
        "monai_basicunet": (lambda: nets.BasicUNet(spatial_dims=3, in_channels=1, out_channels=2, features=(4, 4, 8, 8, 16, 4)),
                            (1, 1, 16, 32, 32)),
        "monai_attentionunet": (lambda: nets.AttentionUnet(spatial_dims=3, in_channels=1, out_channels=2, channels=(4, 8, 16),
                                                           strides=(2, 2)), (1, 1, 16, 24, 24)),
        "monai_unetr": (lambda: nets.UNETR(in_channels=1, out_channels=2, img_size=(32, 32, 32), feature_size=8, hidden_size=48,
                                           mlp_dim=96, num_heads=2), (1, 1, 32, 32, 32)),
        "monai_swinunetr": (lambda: nets.SwinUNETR(in_channels=1, out_channels=2, feature_size=12, depths=(1, 1, 1, 1),
                                                   num_heads=(1, 1, 1, 1)), (1, 1, 64, 64, 64)),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hemo", required=True)
    parser.add_argument("names", nargs="*")
    args = parser.parse_args()
    table = cases()
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        for name in args.names or table:
            build, shape = table[name]
            torch.manual_seed(0)
            model = build().eval()
            x = torch.randn(shape)
            path = os.path.join(work, f"{name}.onnx")
            torch.onnx.export(model, (x,), path, opset_version=17, input_names=["input"], output_names=["output"],
                              dynamo=False)
            reference = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})[0]
            np.save(os.path.join(work, "x.npy"), x.numpy())
            out = os.path.join(work, name)
            run = subprocess.run([args.hemo, "model", "run", path, "--input", os.path.join(work, "x.npy"), "--output", out,
                                  "--threads", "2"], capture_output=True, text=True)
            if run.returncode != 0:
                print(f"{name}: FAIL: {run.stderr.strip().splitlines()[-1]}")
                failures += 1
                continue
            ours = np.load(os.path.join(out, "output.npy"))
            worst = float((np.abs(ours - reference) / np.maximum(1, np.abs(reference))).max())
            ok = ours.shape == reference.shape and worst <= 1e-4
            failures += not ok
            print(f"{name}: {'x'.join(map(str, reference.shape))}, worst {worst:.2e}{'' if ok else '  FAIL'}", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
