#!/usr/bin/env python3
"""Builds the ONNX parity fixtures of Tests/HemoInferenceTests/Fixtures.

For each case: the model (.onnx), seeded inputs and onnxruntime's outputs (.npy, float32),
listed in manifest.json. Also writes the models the error tests load (unsupported operator,
unsupported opset, data-dependent shape).

Needs: pip install onnx onnxruntime numpy   (run from anywhere; ~10 s)
Usage: scripts/make-onnx-fixtures.py
"""
import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_graphs import GraphBuilder, image_input, output, segmentation_unet  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "HemoInferenceTests", "Fixtures")


def resize_modes():
    """One Resize per coordinate transformation / nearest mode PyTorch emits."""
    g = GraphBuilder(11)
    x = "input"
    outs = []
    variants = [
        ("linear", "half_pixel", None, 2.0),
        ("linear", "align_corners", None, 2.0),
        ("linear", "pytorch_half_pixel", None, 1.5),
        ("linear", "asymmetric", None, 2.0),
        ("nearest", "asymmetric", "floor", 2.0),
        ("nearest", "half_pixel", "round_prefer_floor", 1.5),
        ("nearest", "asymmetric", "round_prefer_floor", 3.0),
    ]
    for i, (mode, transform, nearest, scale) in enumerate(variants):
        y = g.resize(x, scale, mode=mode, transform=transform, nearest_mode=nearest or "floor")
        g.nodes[-1].output[0] = f"{mode}_{transform}_{nearest or 'x'}_{i}"
        outs.append(g.nodes[-1].output[0])
    # Upsampling to explicit sizes taken from another tensor's shape (F.interpolate(size=...)).
    shape = g.node("Shape", ["input"])
    hw = g.node("Slice", [shape, g.const(np.array([2], np.int64)), g.const(np.array([4], np.int64))])
    doubled = g.node("Mul", [hw, g.const(np.array([2, 3], np.int64))])
    sizes = g.node("Concat", [g.node("Slice", [shape, g.const(np.array([0], np.int64)), g.const(np.array([2], np.int64))]), doubled], axis=0)
    g.node("Resize", [x, "", "", sizes], mode="linear", coordinate_transformation_mode="pytorch_half_pixel")
    g.nodes[-1].output[0] = "linear_sizes"
    outs.append("linear_sizes")
    return g.model([image_input(channels=2)], [output(o) for o in outs], "resize_modes")


def batchnorm_activations():
    g = GraphBuilder(21)
    a = g.conv_bn_relu("input", 3, 8)                                           # folded + fused
    b = g.node("LeakyRelu", [g.batchnorm(g.conv(a, 8, 8), 8)], alpha=0.1)        # folded, fused
    s = g.node("Add", [a, b])
    c = g.node("Sigmoid", [g.batchnorm(s, 8)])                                   # BN executed
    d = g.node("Clip", [g.conv(c, 8, 8, k=1), g.const(np.array(0, np.float32)), g.const(np.array(6, np.float32))])
    e = g.node("HardSwish", [g.conv(d, 8, 8)])
    f = g.node("HardSigmoid", [e], alpha=0.25, beta=0.4)
    t = g.node("Tanh", [g.conv(f, 8, 8, k=3, dilation=2)])
    m = g.node("Mul", [t, g.const(g.rng.standard_normal((1, 8, 1, 1)).astype(np.float32))])
    m = g.node("Sub", [m, g.const(np.array(0.25, np.float32))])
    m = g.node("Div", [m, g.const((1.5 + g.rng.random((8, 1, 1))).astype(np.float32))])
    m = g.node("Add", [m, g.node("Relu", [e])])
    g.nodes[-1].output[0] = "features"
    return g.model([image_input()], [output("features")], "batchnorm")


def depthwise_classifier():
    g = GraphBuilder(31)
    x = g.node("Clip", [g.conv("input", 3, 16, k=3, stride=2), g.const(np.array(0, np.float32)), g.const(np.array(6, np.float32))])
    x = g.node("Relu", [g.batchnorm(g.conv(x, 16, 16, k=3, group=16, bias=False), 16)])     # depthwise
    x = g.node("HardSwish", [g.conv(x, 16, 32, k=1)])                                      # pointwise
    x = g.node("Relu", [g.conv(x, 32, 32, k=3, group=32, dilation=2)])                       # dilated depthwise
    x = g.conv(x, 32, 32, k=3, stride=2, group=32, auto_pad="SAME_UPPER")                   # strided, asymmetric pads
    x = g.node("Relu", [g.conv(x, 32, 48, k=3, group=2)])                                   # grouped
    x = g.node("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=0)
    x = g.node("GlobalAveragePool", [x])
    x = g.node("Flatten", [x], axis=1)
    w = (g.rng.standard_normal((5, 48)) * 0.3).astype(np.float32)
    x = g.node("Gemm", [x, g.const(w), g.const(np.linspace(-0.2, 0.2, 5).astype(np.float32))], transB=1, alpha=1.0, beta=1.0)
    g.node("Softmax", [x], axis=1)
    g.nodes[-1].output[0] = "probabilities"
    return g.model([helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 32, 32])],
                   [output("probabilities")], "classifier")


def odd_sizes():
    g = GraphBuilder(41)
    x = g.node("Relu", [g.conv("input", 3, 8, k=3, stride=2, pad=1)])                         # 19x15
    y = g.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)               # 9x7
    y = g.node("MaxPool", [y], kernel_shape=[2, 2], strides=[1, 1], auto_pad="SAME_UPPER")
    u = g.node("ConvTranspose", [y, g.const((g.rng.standard_normal((8, 4, 3, 3)) * 0.3).astype(np.float32))],
               kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[0, 0])   # 17x13
    z = g.conv(x, 8, 4, k=3, stride=1, pad=0)                                                  # 17x13
    s = g.node("Sub", [u, z])
    v = g.conv(s, 4, 4, k=5, pad=2, stride=1)
    shape = g.node("Shape", [v])
    sizes = g.node("Concat", [g.node("Slice", [shape, g.const(np.array([0], np.int64)), g.const(np.array([2], np.int64))]),
                              g.const(np.array([37, 29], np.int64))], axis=0)
    r = g.node("Resize", [v, "", "", sizes], mode="linear", coordinate_transformation_mode="half_pixel")
    t = g.node("Transpose", [r], perm=[0, 1, 3, 2])
    g.node("Mul", [t, g.const(np.array([[[[2.0]]]], np.float32))])
    g.nodes[-1].output[0] = "transposed"
    return g.model([image_input()], [output("transposed")], "odd")


def shape_subgraph():
    g = GraphBuilder(51)
    y = g.node("Relu", [g.conv("input", 3, 6, k=3)])
    shape = g.node("Shape", [y])
    n = g.node("Unsqueeze", [g.node("Gather", [shape, g.const(np.array(0, np.int64))], axis=0), g.const(np.array([0], np.int64))])
    h = g.node("Gather", [shape, g.const(np.array(2, np.int64))], axis=0)
    w = g.node("Gather", [shape, g.const(np.array(3, np.int64))], axis=0)
    hw = g.node("Unsqueeze", [g.node("Mul", [h, w]), g.const(np.array([0], np.int64))])
    target = g.node("Concat", [n, g.const(np.array([6], np.int64)), hw], axis=0)
    r = g.node("Reshape", [y, target])
    t = g.node("Transpose", [r], perm=[0, 2, 1])
    m = g.node("MatMul", [t, g.const(g.rng.standard_normal((6, 4)).astype(np.float32))])
    g.node("Softmax", [m], axis=-1)
    g.nodes[-1].output[0] = "tokens"
    sl = g.node("Slice", [y, g.const(np.array([1, 0], np.int64)), g.const(np.array([-1, 2**62], np.int64)),
                          g.const(np.array([2, 3], np.int64)), g.const(np.array([1, 2], np.int64))])
    channels = g.node("Cast", [g.node("Gather", [shape, g.const(np.array(1, np.int64))], axis=0)], to=TensorProto.FLOAT)
    g.node("Div", [sl, channels])
    g.nodes[-1].output[0] = "sliced"
    picked = g.node("Gather", [y, g.const(np.array([4, 1], np.int64))], axis=1)
    flat = g.node("Flatten", [g.node("Squeeze", [g.node("Unsqueeze", [picked, g.const(np.array([1], np.int64))]),
                                                   g.const(np.array([1], np.int64))])], axis=2)
    g.node("Identity", [flat])
    g.nodes[-1].output[0] = "picked"
    return g.model([image_input()], [output("tokens"), output("sliced"), output("picked")], "shapes")


def unsupported_operator():
    g = GraphBuilder(61)
    x = g.conv("input", 3, 4, k=1)
    g.nodes.append(helper.make_node("Hardmax", [x], ["y"], name="hardmax_after_conv"))
    return g.model([image_input()], [output("y")], "unsupported")


def unsupported_opset():
    g = GraphBuilder(62)
    g.node("Relu", ["input"])
    g.nodes[-1].output[0] = "y"
    graph = helper.make_graph(g.nodes, "future", [image_input()], [output("y")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 30)])
    model.ir_version = 8
    return model


def data_dependent_shape():
    g = GraphBuilder(63)
    positive = g.node("Relu", ["input"])
    flat = g.node("Flatten", [positive], axis=0)
    first = g.node("Slice", [flat, g.const(np.array([0], np.int64)), g.const(np.array([2], np.int64)), g.const(np.array([1], np.int64))])
    target = g.node("Cast", [first], to=TensorProto.INT64)
    g.nodes.append(helper.make_node("Reshape", [positive, target], ["y"], name="reshape_by_values"))
    graph = helper.make_graph(g.nodes, "dynamic", [image_input()], [output("y")], g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def seeded(seed, shape):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = {
        "unet_resize": (segmentation_unet(seed=1, channels=(8, 16, 32), batchnorm=False), [(1, 3, 32, 32), (2, 3, 24, 40)]),
        "unet_convtranspose": (segmentation_unet(seed=2, channels=(8, 16, 32), upsample="convtranspose"), [(1, 3, 32, 32)]),
        "unet_linear_batchnorm": (segmentation_unet(seed=3, channels=(8, 16), resize_mode="linear", transform="half_pixel"),
                                  [(1, 3, 20, 28)]),
        "resize_modes": (resize_modes(), [(1, 2, 7, 9)]),
        "batchnorm_activations": (batchnorm_activations(), [(2, 3, 17, 23)]),
        "depthwise_classifier": (depthwise_classifier(), [(2, 3, 32, 32)]),
        "odd_sizes": (odd_sizes(), [(1, 3, 37, 29)]),
        "shape_subgraph": (shape_subgraph(), [(2, 3, 9, 11)]),
    }
    manifest = []
    for index, (name, (model, shapes)) in enumerate(cases.items()):
        path = os.path.join(OUT, f"{name}.onnx")
        onnx.save(model, path)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        for variant, shape in enumerate(shapes):
            tag = f"{name}.{variant}"
            x = seeded(100 * index + variant, shape)
            np.save(os.path.join(OUT, f"{tag}.input.npy"), x)
            results = session.run(None, {input_name: x})
            outputs = {}
            for meta, value in zip(session.get_outputs(), results):
                file = f"{tag}.{meta.name}.npy"
                np.save(os.path.join(OUT, file), np.ascontiguousarray(value, dtype=np.float32))
                outputs[meta.name] = file
            manifest.append({"case": tag, "model": f"{name}.onnx", "inputs": {input_name: f"{tag}.input.npy"},
                             "outputs": outputs})
            print(f"{tag}: input {shape} -> " + ", ".join(f"{k} {v.shape}" for k, v in zip(outputs, results)))
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    for name, model in [("error_unsupported_operator", unsupported_operator()),
                        ("error_unsupported_opset", unsupported_opset()),
                        ("error_data_dependent_shape", data_dependent_shape())]:
        onnx.save(model, os.path.join(OUT, f"{name}.onnx"))
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"fixtures: {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
