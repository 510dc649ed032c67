"""Builders for the ONNX graphs HemoInference is tested and benchmarked on.

Graphs are written with onnx.helper (no PyTorch needed) and seeded NumPy weights, in the
shapes torch.onnx.export emits (Conv+BatchNormalization+Relu, Resize with scales,
ConvTranspose 2x2/2, Shape/Gather/Unsqueeze/Concat/Reshape chains).
Used by scripts/make-onnx-fixtures.py and scripts/bench/onnx_peer.py.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


class GraphBuilder:
    def __init__(self, seed, opset=17):
        self.rng = np.random.default_rng(seed)
        self.nodes = []
        self.initializers = []
        self.opset = opset
        self.count = 0

    def name(self, prefix):
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, array, prefix="c"):
        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def node(self, op, inputs, outputs=1, **attrs):
        names = [self.name(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, inputs, names, name=self.name(op), **attrs))
        return names[0] if outputs == 1 else names

    def conv(self, x, cin, cout, k=3, stride=1, pad=None, group=1, dilation=1, bias=True, auto_pad=None):
        fan_in = cin // group * k * k
        w = (self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        inputs = [x, self.const(w, "w")]
        if bias:
            inputs.append(self.const((self.rng.standard_normal(cout) * 0.1).astype(np.float32), "b"))
        attrs = dict(kernel_shape=[k, k], strides=[stride, stride], dilations=[dilation, dilation], group=group)
        if auto_pad:
            attrs["auto_pad"] = auto_pad
        else:
            p = (k - 1) // 2 * dilation if pad is None else pad
            attrs["pads"] = [p, p, p, p]
        return self.node("Conv", inputs, **attrs)

    def batchnorm(self, x, c):
        scale = (1 + 0.1 * self.rng.standard_normal(c)).astype(np.float32)
        shift = (0.1 * self.rng.standard_normal(c)).astype(np.float32)
        mean = (0.1 * self.rng.standard_normal(c)).astype(np.float32)
        var = (1 + 0.2 * self.rng.random(c)).astype(np.float32)
        return self.node("BatchNormalization", [x, self.const(scale), self.const(shift), self.const(mean), self.const(var)],
                         epsilon=1e-5)

    def conv_bn_relu(self, x, cin, cout):
        return self.node("Relu", [self.batchnorm(self.conv(x, cin, cout, bias=False), cout)])

    def conv_transpose(self, x, cin, cout, k=2, stride=2):
        w = (self.rng.standard_normal((cin, cout, k, k)) * np.sqrt(1.0 / cin)).astype(np.float32)
        b = (self.rng.standard_normal(cout) * 0.1).astype(np.float32)
        return self.node("ConvTranspose", [x, self.const(w, "w"), self.const(b, "b")], kernel_shape=[k, k],
                         strides=[stride, stride])

    def resize(self, x, scale=2.0, mode="nearest", transform="asymmetric", nearest_mode="floor"):
        scales = self.const(np.array([1, 1, scale, scale], np.float32), "scales")
        attrs = dict(mode=mode, coordinate_transformation_mode=transform)
        if mode == "nearest":
            attrs["nearest_mode"] = nearest_mode
        return self.node("Resize", [x, "", scales], **attrs)

    def model(self, inputs, outputs, name="graph"):
        graph = helper.make_graph(self.nodes, name, inputs, outputs, self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                                  producer_name="hemocluster-fixtures")
        model.ir_version = 8
        # onnxruntime validates the graph when the fixtures are computed.
        return model


def image_input(name="input", channels=3, batch="N", height="H", width="W"):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, [batch, channels, height, width])


def output(name):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, None)


def segmentation_unet(seed=7, channels=(16, 32, 64, 128), in_channels=3, classes=6, upsample="resize",
                      resize_mode="nearest", transform="asymmetric", batchnorm=True):
    """A U-Net as torch exports it: (Conv-BN-ReLU)x2 per level, MaxPool 2x2, decoder with
    Resize x2 (or ConvTranspose 2x2/2), skip Concat, 1x1 head producing class logits."""
    g = GraphBuilder(seed)
    x = "input"
    skips = []
    cin = in_channels
    block = (lambda t, a, b: g.conv_bn_relu(g.conv_bn_relu(t, a, b), b, b)) if batchnorm else \
        (lambda t, a, b: g.node("Relu", [g.conv(g.node("Relu", [g.conv(t, a, b)]), b, b)]))
    for level, c in enumerate(channels):
        x = block(x, cin, c)
        cin = c
        if level < len(channels) - 1:
            skips.append((x, c))
            x = g.node("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2])
    for skip, c in reversed(skips):
        if upsample == "resize":
            x = g.resize(x, 2.0, mode=resize_mode, transform=transform)
            x = g.conv(x, cin, c, k=1)
        else:
            x = g.conv_transpose(x, cin, c)
        x = g.node("Concat", [x, skip], axis=1)
        x = block(x, 2 * c, c)
        cin = c
    logits = g.conv(x, cin, classes, k=1)
    g.nodes[-1].output[0] = "logits"
    return g.model([image_input(channels=in_channels)], [output("logits")], "unet")
