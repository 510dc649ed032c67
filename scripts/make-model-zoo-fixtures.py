#!/usr/bin/env python3
"""Model-zoo parity fixtures for HemoInference: the architectures teams export from PyTorch.

Each case builds one architecture with random weights (fixed seed), exports it with
torch.onnx.export (the TorchScript exporter, dynamo=False) at the given opset with a dynamic
batch axis, runs onnxruntime on batch 1 and batch 2 inputs and writes the model, the inputs and
onnxruntime's outputs as .npy, plus a manifest.json the Swift tests read.

    python3 scripts/make-model-zoo-fixtures.py                    # the small committed fixtures
    python3 scripts/make-model-zoo-fixtures.py --full --out DIR   # full-size models (system test, bench)
    python3 scripts/make-model-zoo-fixtures.py --only resnet --out DIR

Small: widths and depths reduced so each committed file stays well under 2 MB. Full: timm
MobileViT-XS and EfficientNet-B0, an RSNA-style 9-channel ResNet-18, smp's U-Net with a
DenseNet161 encoder, nnU-Net's PlainConvUNet 2D and 3D and MONAI's UNet and SegResNet 3D at
their real widths.

Pinned versions (printed and written into manifest.json): see PINNED below.
"""
import argparse
import json
import os
import sys
import warnings

warnings.filterwarnings("ignore")

PINNED = {
    "torch": "2.15.0",
    "timm": "1.0.31",
    "segmentation_models_pytorch": "0.6.0",
    "dynamic_network_architectures": "0.4.1",
    "monai": "1.5.1",
    "onnx": "1.23.2",
    "onnxruntime": "1.32.0",
}

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402


def versions():
    from importlib import metadata
    return {name: metadata.version(name) for name in PINNED}


def seeded(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


def randomize(model, seed):
    """Random but well-conditioned weights, and non-trivial normalisation statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
                module.running_mean.copy_(torch.randn(module.running_mean.shape, generator=g) * 0.1)
                module.running_var.copy_(torch.rand(module.running_var.shape, generator=g) * 0.5 + 0.75)
                if module.weight is not None:
                    module.weight.copy_(torch.rand(module.weight.shape, generator=g) * 0.5 + 0.75)
                    module.bias.copy_(torch.randn(module.bias.shape, generator=g) * 0.1)
    model.eval()
    return model


# MARK: - Architectures

def resnet_9ch(full):
    from timm.models.resnet import ResNet, BasicBlock
    if full:
        return ResNet(BasicBlock, [2, 2, 2, 2], in_chans=9, num_classes=6)
    return ResNet(BasicBlock, [1, 1, 1, 1], in_chans=9, num_classes=6, stem_width=16, channels=(16, 24, 32, 48))


def efficientnet_b0(full):
    from timm.models import efficientnet
    if full:
        return efficientnet._gen_efficientnet("efficientnet_b0", pretrained=False, num_classes=6)
    return efficientnet._gen_efficientnet("efficientnet_b0", channel_multiplier=0.25, depth_multiplier=0.34,
                                          pretrained=False, num_classes=6)


def mobilevit(full):
    import timm
    from dataclasses import replace
    from timm.models.byobnet import ByobNet
    from timm.models.mobilevit import model_cfgs
    if full:
        return timm.create_model("mobilevit_xs", pretrained=False, num_classes=6)
    cfg = model_cfgs["mobilevit_xxs"]
    blocks = []
    for stage in cfg.blocks:
        group = stage if isinstance(stage, tuple) else (stage,)
        small = []
        for b in group:
            kwargs = dict(b.block_kwargs)
            if "transformer_dim" in kwargs:
                kwargs["transformer_dim"] = 32
                kwargs["transformer_depth"] = 1
            small.append(replace(b, c=max(8, b.c // 2), d=1, block_kwargs=kwargs))
        blocks.append(tuple(small) if isinstance(stage, tuple) else small[0])
    cfg = replace(cfg, blocks=tuple(blocks), stem_chs=8, num_features=64)
    return ByobNet(cfg, num_classes=6)


def smp_unet(full, encoder):
    import segmentation_models_pytorch as smp
    if full:
        return smp.Unet(encoder_name=encoder, encoder_weights=None, in_channels=3, classes=6)
    return smp.Unet(encoder_name=encoder, encoder_weights=None, in_channels=3, classes=6, encoder_depth=3,
                    decoder_channels=(32, 16, 8))


def plain_unet(full, dims):
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    conv = nn.Conv2d if dims == 2 else nn.Conv3d
    norm = nn.InstanceNorm2d if dims == 2 else nn.InstanceNorm3d
    if full:
        features = [32, 64, 128, 256, 320][: 5 if dims == 2 else 4]
        n_conv, n_dec = 2, 2
    else:
        features = [4, 8, 16] if dims == 3 else [8, 16, 24, 32]
        n_conv, n_dec = 2, 1
    stages = len(features)
    return PlainConvUNet(
        input_channels=1, n_stages=stages, features_per_stage=features, conv_op=conv, kernel_sizes=3,
        strides=[1] + [2] * (stages - 1), n_conv_per_stage=n_conv, num_classes=6,
        n_conv_per_stage_decoder=n_dec, conv_bias=True, norm_op=norm,
        norm_op_kwargs={"eps": 1e-5, "affine": True}, nonlin=nn.LeakyReLU,
        nonlin_kwargs={"inplace": True}, deep_supervision=False)


def monai_unet(full):
    from monai.networks.nets import UNet
    channels = (16, 32, 64, 128) if full else (4, 8, 16)
    return UNet(spatial_dims=3, in_channels=1, out_channels=6, channels=channels, strides=(2,) * (len(channels) - 1),
                num_res_units=2 if full else 1)


def monai_segresnet(full):
    from monai.networks.nets import SegResNet
    if full:
        return SegResNet(spatial_dims=3, init_filters=16, in_channels=1, out_channels=6, blocks_down=(1, 2, 2, 4),
                         blocks_up=(1, 1, 1))
    return SegResNet(spatial_dims=3, init_filters=4, in_channels=1, out_channels=6, blocks_down=(1, 2),
                     blocks_up=(1,), norm=("GROUP", {"num_groups": 2}))


def quantize_weights(model):
    """Stores every float initializer of more than 256 values as int8 behind a DequantizeLinear
    (per-tensor scale, zero point 0): the weight path of statically quantised exports."""
    from onnx import helper, numpy_helper
    graph = model.graph
    kept, nodes = [], []
    for tensor in graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.dtype != np.float32 or values.size <= 256:
            kept.append(tensor)
            continue
        scale = np.float32(max(float(np.abs(values).max()), 1e-8) / 127)
        q = np.clip(np.round(values / scale), -127, 127).astype(np.int8)
        name = tensor.name
        kept += [numpy_helper.from_array(q, name + "_q"), numpy_helper.from_array(np.array(scale, np.float32), name + "_scale"),
                 numpy_helper.from_array(np.array(0, np.int8), name + "_zero")]
        nodes.append(helper.make_node("DequantizeLinear", [name + "_q", name + "_scale", name + "_zero"], [name],
                                      name=name + "_dequantize"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    old = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + old)
    return model


def half_weights(model):
    """Stores every float initializer as float16 behind a Cast to float (fp16-saved exports)."""
    from onnx import helper, numpy_helper, TensorProto
    graph = model.graph
    kept, nodes = [], []
    for tensor in graph.initializer:
        values = numpy_helper.to_array(tensor)
        if values.dtype != np.float32:
            kept.append(tensor)
            continue
        kept.append(numpy_helper.from_array(values.astype(np.float16), tensor.name + "_half"))
        nodes.append(helper.make_node("Cast", [tensor.name + "_half"], [tensor.name], to=TensorProto.FLOAT,
                                      name=tensor.name + "_cast"))
    del graph.initializer[:]
    graph.initializer.extend(kept)
    old = list(graph.node)
    del graph.node[:]
    graph.node.extend(nodes + old)
    return model


# name, builder(full), input shape without batch (small, full), opsets, post-processing of the small model
CASES = [
    ("resnet9ch", resnet_9ch, (9, 45, 51), (9, 256, 256), [17, 11], {11: half_weights}),
    ("efficientnet_b0", efficientnet_b0, (3, 67, 59), (3, 224, 224), [17], {}),
    ("mobilevit", mobilevit, (3, 64, 72), (3, 256, 256), [17, 14], {}),
    # smp builds the whole encoder whatever encoder_depth: the small resnet18 one is committed
    # with int8 weights (DequantizeLinear); the DenseNet161 one only runs full-size.
    ("smp_unet_resnet18", lambda full: smp_unet(full, "resnet18"), (3, 64, 96), (3, 256, 256), [17], {17: quantize_weights}),
    ("smp_unet_densenet161", lambda full: smp_unet(full, "densenet161"), (3, 32, 40), (3, 256, 256), [17], {}),
    ("nnunet_2d", lambda full: plain_unet(full, 2), (1, 40, 56), (1, 256, 256), [17], {}),
    ("nnunet_3d", lambda full: plain_unet(full, 3), (1, 12, 20, 16), (1, 64, 96, 96), [17], {17: "external"}),
    ("monai_unet_3d", monai_unet, (1, 12, 16, 20), (1, 64, 96, 96), [17], {}),
    ("monai_segresnet_3d", monai_segresnet, (1, 12, 16, 20), (1, 64, 96, 96), [17, 18], {}),
]
# Not committed (too large even when reduced); the system test and the benchmark make them.
FULL_ONLY = {"smp_unet_densenet161"}


def export(name, model, shape, opset, out, batches, seed, post=None):
    path = os.path.join(out, f"{name}.onnx")
    example = torch.randn((1,) + tuple(shape))
    torch.onnx.export(model, (example,), path, opset_version=opset, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, do_constant_folding=True,
                      dynamo=False)
    if post == "external":
        # Weights in a data file beside the model (ONNX external data, one file).
        saved = onnx.load(path)
        onnx.save_model(saved, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location=f"{name}.weights", size_threshold=64)
    elif post is not None:
        onnx.save_model(post(onnx.load(path)), path)
    session_options = ort.SessionOptions()
    session_options.intra_op_num_threads = 1
    session = ort.InferenceSession(path, session_options, providers=["CPUExecutionProvider"])
    cases = []
    rng = np.random.default_rng(seed)
    for batch in batches:
        x = rng.standard_normal((batch,) + tuple(shape)).astype(np.float32)
        (y,) = session.run(None, {"input": x})
        with torch.no_grad():
            expected = model(torch.from_numpy(x)).numpy()
        # onnxruntime is the reference; torch agreeing shows the export is faithful.
        gap = float(np.max(np.abs(expected - y)))
        stem = f"{name}.b{batch}"
        np.save(os.path.join(out, f"{stem}.input.npy"), x)
        np.save(os.path.join(out, f"{stem}.output.npy"), y.astype(np.float32))
        cases.append({"case": stem, "model": f"{name}.onnx", "inputs": {"input": f"{stem}.input.npy"},
                      "outputs": {"output": f"{stem}.output.npy"}})
        print(f"  {stem}: input {x.shape} output {y.shape}, |torch - ort| max {gap:.2e}", flush=True)
    return cases


# MARK: - Operator fixtures (onnx.helper graphs: the variants exporters rarely emit)

def op_graphs():
    """(name, opset, model, input shape) for graphs built node by node."""
    from onnx import helper, numpy_helper, TensorProto
    rng = np.random.default_rng(7)
    graphs = []

    def model(name, opset, nodes, input_shape, initializers=(), outputs=("y",)):
        graph = helper.make_graph(
            nodes, name, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N"] + list(input_shape[1:]))],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
            [numpy_helper.from_array(np.asarray(v), n) for n, v in initializers])
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
        m.ir_version = 8 if opset <= 18 else 10
        graphs.append((name, m, input_shape, list(outputs)))

    def w(*shape):
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    def i64(*values):
        return np.array(values, dtype=np.int64)

    n = helper.make_node
    # Element-wise with broadcasting, comparisons and Where.
    model("op_elementwise", 18, [
        n("Erf", ["x"], ["erf"]), n("Softplus", ["x"], ["sp"]), n("Mish", ["x"], ["mish"]),
        n("Abs", ["x"], ["abs"]), n("Sqrt", ["abs"], ["sqrt"]), n("Add", ["abs", "one"], ["abs1"]), n("Log", ["abs1"], ["log"]),
        n("Exp", ["erf"], ["exp"]), n("Reciprocal", ["abs1"], ["rec"]), n("Neg", ["rec"], ["neg"]),
        n("Pow", ["x", "two"], ["pow"]), n("Min", ["x", "row", "erf"], ["min"]), n("Max", ["x", "row"], ["max"]),
        n("Less", ["x", "row"], ["less"]), n("Greater", ["x", "zero"], ["greater"]), n("Equal", ["less", "greater"], ["eq"]),
        n("Not", ["less"], ["not"]), n("Where", ["not", "x", "row"], ["where"]), n("HardSwish", ["x"], ["hs"]),
        n("PRelu", ["x", "slope"], ["prelu"]),
        n("Sum", ["erf", "sp", "mish", "sqrt", "log", "exp", "neg", "pow", "min", "max", "where", "hs", "prelu"], ["sum"]),
        n("Cast", ["eq"], ["eqf"], to=TensorProto.FLOAT), n("Mul", ["sum", "eqf"], ["y"]),
    ], (2, 3, 5, 7), [("one", np.float32(1)), ("two", np.float32(2)), ("zero", np.float32(0)), ("row", w(7)),
                      ("slope", w(3, 1, 1))])
    model("op_gelu", 20, [n("Gelu", ["x"], ["a"]), n("Gelu", ["x"], ["b"], approximate="tanh"), n("Sub", ["a", "b"], ["d"]),
                          n("Mul", ["d", "k"], ["e"]), n("Add", ["a", "e"], ["y"])], (2, 4, 9), [("k", np.float32(100))])
    # Reductions over various axes (opset 18: axes as an input), keepdims 0 and 1.
    model("op_reduce", 18, [
        n("ReduceMean", ["x", "ax13"], ["m"], keepdims=1), n("ReduceL2", ["x", "ax2"], ["l2"], keepdims=1),
        n("ReduceMax", ["x", "ax0"], ["mx"], keepdims=1), n("ReduceMin", ["x", "ax3"], ["mn"], keepdims=1),
        n("ReduceSum", ["x", "axneg"], ["s"], keepdims=0), n("Unsqueeze", ["s", "ax3"], ["s4"]),
        n("Add", ["m", "l2"], ["a"]), n("Add", ["a", "mx"], ["b"]), n("Add", ["b", "mn"], ["c"]), n("Add", ["c", "s4"], ["y"]),
    ], (2, 3, 6, 5), [("ax13", i64(1, 3)), ("ax2", i64(2)), ("ax0", i64(0)), ("ax3", i64(3)), ("axneg", i64(-1))])
    # Decomposed LayerNorm (opset 11 style) and native LayerNorm on axis 1, GroupNormalization.
    model("op_norms", 18, [
        n("ReduceMean", ["x", "axl"], ["mu"]), n("Sub", ["x", "mu"], ["xc"]), n("Pow", ["xc", "two"], ["sq"]),
        n("ReduceMean", ["sq", "axl"], ["var"]), n("Add", ["var", "eps"], ["ve"]), n("Sqrt", ["ve"], ["sd"]),
        n("Div", ["xc", "sd"], ["ln1"]),
        n("LayerNormalization", ["x", "lnw", "lnb"], ["ln2"], axis=1, epsilon=1e-5),
        n("GroupNormalization", ["x", "gnw", "gnb"], ["gn"], num_groups=2, epsilon=1e-5),
        n("InstanceNormalization", ["x", "inw", "inb"], ["inn"]),
        n("Add", ["ln1", "ln2"], ["a"]), n("Add", ["a", "gn"], ["b"]), n("Add", ["b", "inn"], ["y"]),
    ], (2, 4, 5, 6), [("axl", i64(-1)), ("two", np.float32(2)), ("eps", np.float32(1e-5)), ("lnw", w(4, 5, 6)),
                      ("lnb", w(4, 5, 6)), ("gnw", w(2)), ("gnb", w(2)), ("inw", w(4)), ("inb", w(4))])
    # Pad (constant with a negative pad, reflect, edge), Split, Tile, Expand, Slice with steps, Transpose.
    model("op_movement", 18, [
        n("Pad", ["x", "p1", "cv"], ["pc"], mode="constant"), n("Pad", ["x", "p2"], ["pr"], mode="reflect"),
        n("Pad", ["x", "p2"], ["pe"], mode="edge"),
        n("Split", ["pr", "sp"], ["s1", "s2"], axis=2), n("Tile", ["s1", "rep"], ["t"]),
        n("Slice", ["pe", "st", "en", "axs", "stp"], ["sl"]), n("Expand", ["row", "shp"], ["ex"]),
        n("Transpose", ["pc"], ["tr"], perm=[0, 1, 3, 2]), n("ReduceSum", ["tr", "ax23"], ["trs"]),
        n("Concat", ["s2", "t"], ["cat"], axis=2), n("ReduceSum", ["cat", "ax23"], ["cats"]),
        n("ReduceSum", ["sl", "ax23"], ["sls"]), n("ReduceSum", ["ex", "ax23"], ["exs"]),
        n("Add", ["trs", "cats"], ["a"]), n("Add", ["a", "sls"], ["b"]), n("Add", ["b", "exs"], ["y"]),
    ], (2, 3, 5, 6), [("p1", i64(0, 0, 1, -1, 0, 0, 2, 1)), ("cv", np.float32(0.5)), ("p2", i64(0, 0, 2, 1, 0, 0, 1, 3)),
                      ("sp", i64(3, 5)), ("rep", i64(1, 1, 2, 1)), ("st", i64(-1, 1)), ("en", i64(-100, 100)),
                      ("axs", i64(2, 3)), ("stp", i64(-2, 3)), ("row", w(1, 3, 1, 4)), ("shp", i64(2, 3, 2, 4)),
                      ("ax23", i64(2, 3))])
    # Attention-style MatMul with batch broadcasting, Softmax on axis 1, Einsum.
    model("op_matrices", 17, [
        n("MatMul", ["x", "wb"], ["q"]), n("Transpose", ["q"], ["qt"], perm=[0, 1, 3, 2]), n("MatMul", ["q", "qt"], ["att"]),
        n("Softmax", ["att"], ["sm"], axis=1), n("MatMul", ["sm", "x"], ["o"]),
        n("Einsum", ["o", "we"], ["e"], equation="bhnd,hdk->bhnk"), n("MatMul", ["e", "w1"], ["y"]),
    ], (2, 3, 5, 4), [("wb", w(3, 4, 6)), ("we", w(3, 4, 2)), ("w1", w(2))])
    # Resize: cubic 2-D, linear and nearest 3-D.
    model("op_resize", 18, [
        n("Resize", ["x", "", "sc2"], ["c"], mode="cubic", coordinate_transformation_mode="half_pixel"),
        n("Unsqueeze", ["x", "ax2"], ["x5"]),
        n("Resize", ["x5", "", "sz3"], ["l"], mode="linear", coordinate_transformation_mode="align_corners"),
        n("Resize", ["x5", "", "sc3"], ["nn"], mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor"),
        n("ReduceMean", ["l", "ax2"], ["lm"], keepdims=0), n("ReduceMean", ["nn", "ax2"], ["nm"], keepdims=0),
        n("Resize", ["lm", "", "", "szc"], ["lr"], mode="nearest", axes=[2, 3]),
        n("Resize", ["nm", "", "", "szc"], ["nr"], mode="nearest", axes=[2, 3]),
        n("Add", ["c", "lr"], ["a"]), n("Add", ["a", "nr"], ["y"]),
    ], (2, 2, 5, 6), [("sc2", np.array([1, 1, 1.5, 2], np.float32)), ("ax2", i64(2)),
                      ("sz3", np.array([1, 1, 3, 1.6, 1.5], np.float32)), ("sc3", np.array([1, 1, 2, 2, 1.5], np.float32)),
                      ("szc", i64(7, 12))])
    # 1-D and 3-D convolutions and pooling: groups, dilations, auto_pad, asymmetric pads, ceil mode.
    model("op_conv1d", 17, [
        n("Conv", ["x", "w1", "b1"], ["c1"], dilations=[2], pads=[2, 1], group=2),
        n("AveragePool", ["c1"], ["p1"], kernel_shape=[3], strides=[2], pads=[1, 0], count_include_pad=1, ceil_mode=1),
        n("MaxPool", ["p1"], ["m1"], kernel_shape=[2], auto_pad="SAME_UPPER", strides=[2]),
        n("ConvTranspose", ["m1", "wt1"], ["y"], strides=[3], output_padding=[1], pads=[1, 0]),
    ], (2, 4, 23), [("w1", w(6, 2, 3)), ("b1", w(6)), ("wt1", w(6, 2, 3))])
    model("op_conv3d", 17, [
        n("Conv", ["x", "w3", "b3"], ["c1"], auto_pad="SAME_UPPER", strides=[2, 1, 2], group=2),
        n("Relu", ["c1"], ["r1"]),
        n("Conv", ["r1", "wd"], ["c2"], dilations=[1, 2, 1], pads=[0, 2, 1, 1, 2, 0]),
        n("MaxPool", ["c2"], ["m"], kernel_shape=[2, 3, 2], strides=[1, 2, 2], pads=[1, 1, 0, 0, 1, 1]),
        n("AveragePool", ["m"], ["a"], kernel_shape=[2, 2, 2], strides=[1, 1, 1], ceil_mode=1),
        n("ConvTranspose", ["a", "wt3", "bt3"], ["t"], strides=[2, 2, 2], group=2, output_padding=[1, 0, 1]),
        n("GlobalAveragePool", ["t"], ["g"]), n("Mul", ["t", "g"], ["y"]),
    ], (2, 4, 7, 9, 10), [("w3", w(6, 2, 3, 3, 3)), ("b3", w(6)), ("wd", w(6, 6, 1, 3, 2)), ("wt3", w(6, 2, 2, 3, 2)),
                          ("bt3", w(4))])
    # Mod (fmod; onnxruntime takes no float Mod without it) on activations, and Shape of a constant folded at load
    # (SwinUNETR's window padding).
    model("op_mod", 17, [
        n("Mod", ["x", "three"], ["m1"], fmod=1),
        n("Shape", ["row"], ["rs"]), n("Cast", ["rs"], ["rf"], to=TensorProto.FLOAT), n("Add", ["m1", "rf"], ["y"]),
    ], (2, 3, 4, 7), [("three", np.float32(0.7)), ("row", w(7))])
    return graphs


def export_ops(out, batches, seed):
    cases = []
    for name, m, shape, outputs in op_graphs():
        path = os.path.join(out, f"{name}.onnx")
        onnx.save_model(m, path)
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(seed)
        for batch in batches:
            x = rng.standard_normal((batch,) + tuple(shape[1:])).astype(np.float32)
            results = session.run(None, {"x": x})
            stem = f"{name}.b{batch}"
            np.save(os.path.join(out, f"{stem}.input.npy"), x)
            files = {}
            for output, value in zip(outputs, results):
                np.save(os.path.join(out, f"{stem}.{output}.npy"), value.astype(np.float32))
                files[output] = f"{stem}.{output}.npy"
            cases.append({"case": stem, "model": f"{name}.onnx", "inputs": {"x": f"{stem}.input.npy"}, "outputs": files})
            print(f"  {stem}: input {x.shape} outputs {[r.shape for r in results]}", flush=True)
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "Tests", "HemoInferenceTests",
                                                      "Fixtures", "zoo"))
    parser.add_argument("--full", action="store_true", help="real widths and input sizes (not committed)")
    parser.add_argument("--only", action="append", help="case name prefix (repeatable)")
    parser.add_argument("--batches", default="1,2", help="comma-separated batch sizes (default 1,2)")
    parser.add_argument("--spatial-scale", type=float, default=1.0,
                        help="with --full: scale the spatial input extents (0.5: 128x128 slices, 32x48x48 volumes)")
    args = parser.parse_args()
    found = versions()
    for name, pinned in PINNED.items():
        note = "" if found[name].split("+")[0] == pinned else f"  (pinned {pinned})"
        print(f"{name} {found[name]}{note}")
    os.makedirs(args.out, exist_ok=True)
    batches = [int(b) for b in args.batches.split(",")]
    manifest = []
    for index, (name, builder, small, full, opsets, posts) in enumerate(CASES):
        if args.only and not any(name.startswith(prefix) for prefix in args.only):
            continue
        if not args.full and not args.only and name in FULL_ONLY:
            continue
        for opset in opsets if not args.full else opsets[:1]:
            seed = 1000 + index
            seeded(seed)
            model = randomize(builder(args.full), seed)
            label = name if opset == opsets[0] else f"{name}_opset{opset}"
            shape = full if args.full else small
            if args.full and args.spatial_scale != 1.0:
                shape = (shape[0],) + tuple(max(32, int(round(e * args.spatial_scale / 32)) * 32) if len(shape) == 3
                                            else max(16, int(round(e * args.spatial_scale / 16)) * 16) for e in shape[1:])
            print(f"{label}: opset {opset}, {sum(p.numel() for p in model.parameters())} parameters", flush=True)
            post = None if args.full else posts.get(opset)
            manifest += export(label, model, shape, opset, args.out, batches, seed, post)
    if not args.full and (not args.only or "op" in args.only):
        manifest += export_ops(args.out, batches, 99)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump({"versions": found, "cases": manifest}, f, indent=1)
    print(f"wrote {len(manifest)} cases to {os.path.abspath(args.out)}")


if __name__ == "__main__":
    sys.exit(main())
