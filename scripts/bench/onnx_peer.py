#!/usr/bin/env python3
"""Peer side of scripts/bench/onnx.sh: builds the benchmark U-Net and its inputs, times
onnxruntime on them, and computes the memory target.

  onnx_peer.py make DIR               writes DIR/unet.onnx and DIR/input_256.npy, DIR/input_512.npy
  onnx_peer.py run MODEL INPUT T RUNS prints "ort_ms_per_slice <median ms>" (intra_op_num_threads=T)
  onnx_peer.py memory MODEL SIZE      prints weight bytes and the largest pair of live activations
"""
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))


def make(directory):
    import onnx
    from onnx_graphs import segmentation_unet
    os.makedirs(directory, exist_ok=True)
    # 4 levels, 16-128 channels, 3 input channels, Conv-BN-ReLU x2 per level, Resize x2 decoder.
    model = segmentation_unet(seed=7, channels=(16, 32, 64, 128), in_channels=3, classes=6)
    onnx.save(model, os.path.join(directory, "unet.onnx"))
    for size in (256, 512):
        x = np.random.default_rng(size).standard_normal((1, 3, size, size)).astype(np.float32)
        np.save(os.path.join(directory, f"input_{size}.npy"), x)


def run(model, input_path, threads, runs):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    x = np.load(input_path)
    name = session.get_inputs()[0].name
    session.run(None, {name: x})
    times, cpu = [], []
    for _ in range(runs):
        start, cpu_start = time.perf_counter(), time.process_time()
        session.run(None, {name: x})
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - cpu_start) * 1000)
    print(f"ort_ms_per_slice {np.median(times) / x.shape[0]:.3f}")
    print(f"ort_cpu_ms_per_slice {np.median(cpu) / x.shape[0]:.3f}")


def memory(model_path, size):
    import onnx
    from onnx import numpy_helper, shape_inference
    model = onnx.load(model_path)
    weights = sum(numpy_helper.to_array(t).nbytes for t in model.graph.initializer)
    graph = model.graph
    graph.input[0].type.tensor_type.shape.dim[0].dim_value = 1
    graph.input[0].type.tensor_type.shape.dim[2].dim_value = size
    graph.input[0].type.tensor_type.shape.dim[3].dim_value = size
    inferred = shape_inference.infer_shapes(model).graph
    sizes = {}
    for value in list(inferred.value_info) + list(inferred.input) + list(inferred.output):
        dims = [d.dim_value for d in value.type.tensor_type.shape.dim]
        if dims and all(d > 0 for d in dims):
            sizes[value.name] = int(np.prod(dims)) * 4
    initializers = {t.name for t in graph.initializer}
    pair = 0
    for node in inferred.node:
        live = sum(sizes.get(n, 0) for n in list(node.input) + list(node.output) if n and n not in initializers)
        pair = max(pair, live)
    print(f"weights_bytes {weights}")
    print(f"largest_live_pair_bytes {pair}")
    print(f"target_bytes {weights + 2 * pair}")


if __name__ == "__main__":
    command = sys.argv[1]
    if command == "make":
        make(sys.argv[2])
    elif command == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif command == "memory":
        memory(sys.argv[2], int(sys.argv[3]))
    else:
        sys.exit(f"unknown command {command}")
