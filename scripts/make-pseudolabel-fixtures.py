#!/usr/bin/env python3
"""Write the tiny pseudo-label model HemoPseudoLabelTests runs (no PyTorch needed).

tiny-model.onnx: input `image` [N, 3, H, W] (H, W free), outputs
  seg_logits [N, 6, H, W] = Conv 1x1 over the three windowed channels (seeded weights chosen so
                           the subdural channel drives EPH/IPH and the blood channel SDH), and
  cls_logits [N, 6]       = Gemm(Flatten(GlobalAveragePool(seg_logits))).
tiny-model.json: its sidecar (format_version 2, input 32 x 32, the default model's windows,
  a component filter of 3 pixels).
Checks with onnxruntime (when installed) that the file runs and gives the declared shapes.

  python3 scripts/make-pseudolabel-fixtures.py   # writes Sources/HemoTestKit/Fixtures/
"""
import json
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Sources", "HemoTestKit", "Fixtures")


def main():
    os.makedirs(OUT, exist_ok=True)
    # channels: brain clip(HU/80), subdural clip((HU+20)/200), blood clip((HU-40)/40)
    w = np.zeros((6, 3, 1, 1), dtype=np.float32)
    b = np.zeros(6, dtype=np.float32)
    w[1, 1] = 40.0; b[1] = -11.0   # EPH: subdural channel above 0.275 (HU > 35)
    w[4, 0] = 20.0; b[4] = -16.5   # IPH: brain channel above 0.825 (HU > 66), never in the tiny cohort
    w[4, 1] = 30.0                 # ... but helped by the subdural channel
    w[2, 2] = 30.0; b[2] = -3.0    # SDH: blood channel above 0.1
    gemm_w = np.array([[0, 2, 2, 2, 2, 2]] + [[0] * 6] * 5, dtype=np.float32)
    for s in range(5):
        gemm_w[s + 1, s + 1] = 3.0
    gemm_b = np.full(6, -1.0, dtype=np.float32)
    nodes = [
        helper.make_node("Conv", ["image", "seg_w", "seg_b"], ["seg_logits"], name="seg_conv", kernel_shape=[1, 1]),
        helper.make_node("GlobalAveragePool", ["seg_logits"], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["flat"], name="flatten", axis=1),
        helper.make_node("Gemm", ["flat", "cls_w", "cls_b"], ["cls_logits"], name="cls_gemm", transB=1),
    ]
    graph = helper.make_graph(
        nodes, "tiny-pseudo-label",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("seg_logits", TensorProto.FLOAT, ["N", 6, "H", "W"]),
         helper.make_tensor_value_info("cls_logits", TensorProto.FLOAT, ["N", 6])],
        [numpy_helper.from_array(w, "seg_w"), numpy_helper.from_array(b, "seg_b"),
         numpy_helper.from_array(gemm_w, "cls_w"), numpy_helper.from_array(gemm_b, "cls_b")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="make-pseudolabel-fixtures")
    model.ir_version = 8
    onnx.checker.check_model(model)
    path = os.path.join(OUT, "tiny-model.onnx")
    onnx.save(model, path)
    sidecar = {
        "format": "hemocluster-model-sidecar",
        "format_version": 2,
        "model": {"file": "tiny-model.onnx", "architecture": "1x1 Conv + GAP/Gemm head (test fixture)"},
        "input": {
            "name": "image", "layout": "NCHW", "dtype": "float32", "height": 32, "width": 32, "size_multiple": 1,
            "channels": [
                {"index": 0, "name": "brain", "window_width": 80.0, "window_level": 40.0},
                {"index": 1, "name": "subdural", "window_width": 200.0, "window_level": 80.0},
                {"index": 2, "name": "blood", "window_width": 40.0, "window_level": 60.0},
            ],
            "normalization": {"after_window": "none"},
        },
        "outputs": {
            "seg_logits": {"shape": ["N", 6, "H", "W"], "classes": ["background", "EPH", "SDH", "SAH", "IPH", "IVH"], "kind": "logits"},
            "cls_logits": {"shape": ["N", 6], "labels": ["any", "EPH", "SDH", "SAH", "IPH", "IVH"], "kind": "logits"},
        },
        "postprocess": {"filter": {"min_component_pixels": {s: 3 for s in ["EPH", "SDH", "SAH", "IPH", "IVH"]},
                                   "min_component_score": 0.0, "min_slice_p_any": 0.0}},
    }
    with open(os.path.join(OUT, "tiny-model.json"), "w") as fh:
        json.dump(sidecar, fh, indent=2)
        fh.write("\n")
    try:
        import onnxruntime as ort
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        seg, cls = sess.run(None, {"image": np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)})
        assert seg.shape == (2, 6, 32, 32) and cls.shape == (2, 6), (seg.shape, cls.shape)
        print("onnxruntime check ok")
    except ImportError:
        print("onnxruntime not installed: shape check skipped")
    print("wrote", OUT)


if __name__ == "__main__":
    main()
