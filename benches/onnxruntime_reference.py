"""ONNX Runtime's batch-1 latency on the two architectures of `benches/inference.rs`, measured on the
same machine in the same hour as our bench, so the comparison does not depend on a figure taken on
another day (the VM's speed varies by ±30% from hour to hour).

    pip install onnxruntime onnx numpy
    python3 benches/onnxruntime_reference.py            # both models, fp32 and int8
    python3 benches/onnxruntime_reference.py smallvgg   # one model (smallvgg, vgg16, resnet18)
    python3 benches/onnxruntime_reference.py alternate  # SmallVgg, ours and theirs round by round
    python3 benches/onnxruntime_reference.py alternate 8 resnet18  # the same for ResNet-18
    FASTERAI_SERVE=old-bench:new-bench python3 benches/onnxruntime_reference.py alternate 8 resnet18
        # several built inference benches (e.g. before and after a change) in the same rounds
    python3 benches/onnxruntime_reference.py ours DIR   # our exported .onnx files in DIR, in ORT

`ours` times the files our plans export (`deploy::onnx`): write them with
`cargo bench --bench tract_peer -- --write DIR` (SmallVgg, VGG16-BN, ResNet-18, fp32 and int8, the
same models the tract bench runs), then run this mode on DIR in the same hour. Each file also runs
beside ORT's own export of the same architecture when its name starts with a model of this script
(fp32 and QDQ int8), so the two are compared in one process.

Not part of CI (it needs packages the Rust build does not). The models are built node by node with
random weights (latency does not depend on them): SmallVgg at 1x28x28 and torchvision's VGG16-BN
layout with 10 classes at 3x128x128, torchvision's ResNet-18 with 10 classes at 3x224x224, BatchNorms folded into the convs (as an eval-mode export does), the
4x4 -> 7x7 adaptive average pooling as the equivalent MatMul with the pooling matrix. int8 is ORT's
static QDQ quantization, per-channel symmetric int8 weights, uint8 activations calibrated on 32
random images: the setting of the issue's reference figures. Two intra-op threads, full graph
optimisation, spinning on (ORT's default).
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

RNG = np.random.default_rng(0)


class Graph:
    def __init__(self, shape):
        self.nodes, self.inits, self.count = [], [], 0
        self.input = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, *shape])
        self.last, self.shape = "x", list(shape)

    def name(self, kind):
        self.count += 1
        return f"{kind}{self.count}"

    def init(self, kind, array):
        n = self.name(kind)
        self.inits.append(numpy_helper.from_array(array.astype(np.float32), n))
        return n

    def node(self, op, inputs, **attrs):
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, [self.last, *inputs], [out], **attrs))
        self.last = out

    def conv_bn_relu(self, out_channels):
        c = self.shape[0]
        bound = 1 / np.sqrt(c * 9)
        w = self.init("w", RNG.uniform(-bound, bound, (out_channels, c, 3, 3)))
        b = self.init("b", RNG.uniform(-bound, bound, out_channels))
        # The BatchNorm is already folded into w and b, as torch.onnx.export does in eval mode.
        self.node("Conv", [w, b], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        self.node("Relu", [])
        self.shape[0] = out_channels

    def conv(self, out_channels, kernel, stride, pad, relu, source=None):
        """A conv with its BatchNorm folded, reading `source` (a `(name, shape)` pair) or the last output."""
        if source is not None:
            self.last, self.shape = source[0], list(source[1])
        c, h, w = self.shape
        bound = 1 / np.sqrt(c * kernel * kernel)
        wt = self.init("w", RNG.uniform(-bound, bound, (out_channels, c, kernel, kernel)))
        b = self.init("b", RNG.uniform(-bound, bound, out_channels))
        self.node("Conv", [wt, b], kernel_shape=[kernel, kernel], pads=[pad] * 4, strides=[stride, stride])
        if relu:
            self.node("Relu", [])
        self.shape = [out_channels, (h + 2 * pad - kernel) // stride + 1, (w + 2 * pad - kernel) // stride + 1]

    def basic_block(self, out_channels, stride):
        """torchvision's BasicBlock: two 3x3 convs, the input (or its strided 1x1 conv) added, ReLU."""
        skip = (self.last, list(self.shape))
        self.conv(out_channels, 3, stride, 1, True)
        self.conv(out_channels, 3, 1, 1, False)
        other = skip[0]
        if stride != 1 or skip[1][0] != out_channels:
            main = (self.last, list(self.shape))
            self.conv(out_channels, 1, stride, 0, False, source=skip)
            other = self.last
            self.last, self.shape = main
        self.node("Add", [other])
        self.node("Relu", [])

    def max_pool(self):
        self.node("MaxPool", [], kernel_shape=[2, 2], strides=[2, 2])
        self.shape = [self.shape[0], self.shape[1] // 2, self.shape[2] // 2]

    def flatten(self):
        self.node("Flatten", [], axis=1)
        self.shape = [int(np.prod(self.shape))]

    def linear(self, out_features, relu):
        n = self.shape[0]
        bound = 1 / np.sqrt(n)
        w = self.init("fc", RNG.uniform(-bound, bound, (out_features, n)))
        b = self.init("fb", RNG.uniform(-bound, bound, out_features))
        self.node("Gemm", [w, b], transB=1)
        if relu:
            self.node("Relu", [])
        self.shape = [out_features]

    def adaptive_avg_pool(self, out_h, out_w):
        c, h, w = self.shape
        pool = np.zeros((h * w, out_h * out_w))
        for oy in range(out_h):
            ys = range(oy * h // out_h, -(-(oy + 1) * h // out_h))
            for ox in range(out_w):
                xs = range(ox * w // out_w, -(-(ox + 1) * w // out_w))
                for y in ys:
                    for x in xs:
                        pool[y * w + x, oy * out_w + ox] = 1 / (len(ys) * len(xs))
        shape = self.init("shape", np.array([1, c, h * w]))
        self.inits[-1] = numpy_helper.from_array(np.array([1, c, h * w], dtype=np.int64), shape)
        self.node("Reshape", [shape])
        self.node("MatMul", [self.init("pool", pool)])
        self.shape = [c, out_h, out_w]

    def model(self):
        out = helper.make_tensor_value_info(self.last, TensorProto.FLOAT, None)
        graph = helper.make_graph(self.nodes, "net", [self.input], [out], self.inits)
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def small_vgg():
    g = Graph([1, 28, 28])
    for channels, pool in [(32, False), (32, True), (64, False), (64, True)]:
        g.conv_bn_relu(channels)
        if pool:
            g.max_pool()
    g.flatten()
    g.linear(256, True)
    g.linear(10, False)
    return g


def vgg16_bn():
    g = Graph([3, 128, 128])
    for block in [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]:
        for channels in block:
            g.conv_bn_relu(channels)
        g.max_pool()
    g.adaptive_avg_pool(7, 7)
    g.flatten()
    g.linear(4096, True)
    g.linear(4096, True)
    g.linear(10, False)
    return g


def resnet18():
    g = Graph([3, 224, 224])
    g.conv(64, 7, 2, 3, True)
    g.node("MaxPool", [], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    g.shape = [64, 56, 56]
    for channels, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        g.basic_block(channels, stride)
        g.basic_block(channels, 1)
    g.node("GlobalAveragePool", [])
    g.shape = [512, 1, 1]
    g.flatten()
    g.linear(10, False)
    return g


class Images(CalibrationDataReader):
    def __init__(self, shape, n=32):
        self.batches = iter([{"x": RNG.uniform(0, 1, (1, *shape)).astype(np.float32)} for _ in range(n)])

    def get_next(self):
        return next(self.batches, None)


def session(path):
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def times_ms(run, runs):
    """`runs` timed calls of `run` (after a tenth as many untimed), in ms."""
    for _ in range(max(3, runs // 10)):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    return np.array(times)


def median_ms(run, runs):
    return float(np.median(times_ms(run, runs)))


def latency(path, shape, runs):
    """Median and best of `runs` batch-1 runs of the model at `path`, in ms."""
    s = session(path)
    x = {"x": RNG.uniform(0, 1, (1, *shape)).astype(np.float32)}
    times = times_ms(lambda: s.run(None, x), runs)
    return np.median(times), np.min(times)


def alternate(rounds, runs, key="smallvgg"):
    """SmallVgg (or `key`: resnet18), fp32 and int8: ONNX Runtime's median over `runs` runs, then
    ours (the inference bench in `--serve` mode, started once), round after round, so both sides of
    a round meet the VM in the same state."""
    build, shape = {"smallvgg": (small_vgg, [1, 28, 28]), "resnet18": (resnet18, [3, 224, 224])}[key]
    with tempfile.TemporaryDirectory() as tmp:
        fp32, int8 = Path(tmp) / f"{key}.onnx", Path(tmp) / f"{key}_int8.onnx"
        onnx.save(build().model(), fp32)
        quantize_static(str(fp32), str(int8), Images(shape), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        sessions = [session(fp32), session(int8)]
        x = {"x": RNG.uniform(0, 1, (1, *shape)).astype(np.float32)}
        # FASTERAI_SERVE=old:new (paths of built inference benches) alternates several builds of ours.
        binaries = [b for b in os.environ.get("FASTERAI_SERVE", "").split(":") if b]
        commands = [[b, "--serve", key] for b in binaries] or [["cargo", "bench", "-q", "--bench", "inference", "--", "--serve", key]]
        names = binaries or ["fasterai"]
        servers = [subprocess.Popen(c, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for c in commands]
        for ours in servers:
            if ours.stdout.readline().strip() != "ready":
                sys.exit("the inference bench did not start in --serve mode")
        rows = []
        for r in range(rounds):
            theirs = [median_ms(lambda s=s: s.run(None, x), runs) for s in sessions]
            time.sleep(0.3)  # let ONNX Runtime's threads stop spinning
            mine = []
            for ours in servers:
                ours.stdin.write(f"{runs}\n")
                ours.stdin.flush()
                mine += [float(v) for v in ours.stdout.readline().split()]
                time.sleep(0.3)
            rows.append(theirs + mine)
            line = " | ".join(f"{n} fp32 {mine[2 * i]:.3f} ms, int8 {mine[2 * i + 1]:.3f} ms" for i, n in enumerate(names))
            print(f"round {r}: onnxruntime fp32 {theirs[0]:.3f} ms, int8 {theirs[1]:.3f} ms | {line}", flush=True)
        for ours in servers:
            ours.stdin.write("0\n")
            ours.stdin.close()
            ours.wait()
    rows = np.array(rows)
    med = np.median(rows, axis=0)
    print(f"median of {rounds} rounds ({runs} runs each, 2 threads): onnxruntime {ort.__version__} fp32 {med[0]:.3f} ms, "
          f"int8 {med[1]:.3f} ms")
    for i, n in enumerate(names):
        f, q = 2 + 2 * i, 3 + 2 * i
        print(f"  {n}: fp32 {med[f]:.3f} ms, int8 {med[q]:.3f} ms; rounds faster than onnxruntime: "
              f"fp32 {int((rows[:, f] < rows[:, 0]).sum())}/{rounds}, int8 {int((rows[:, q] < rows[:, 1]).sum())}/{rounds}")


def ours(directory):
    """Every `*.onnx` file in `directory` (exported by our plans), timed in ONNX Runtime at batch 1,
    next to ORT's own file of the same architecture when the name tells which (`smallvgg-int8.onnx`)."""
    files = sorted(Path(directory).glob("*.onnx"))
    if not files:
        sys.exit(f"no .onnx file in {directory}: write them with `cargo bench --bench tract_peer -- --write {directory}`")
    runs_for = {"smallvgg": 2000, "vgg16": 40, "resnet18": 100}
    builders = {"smallvgg": small_vgg, "vgg16": vgg16_bn, "resnet18": resnet18}
    print(f"onnxruntime {ort.__version__}, batch 1, 2 threads; median (best) ms")
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            model = onnx.load(str(path))
            onnx.checker.check_model(model)
            dims = [d.dim_value or 1 for d in model.graph.input[0].type.tensor_type.shape.dim]
            key = next((k for k in runs_for if path.name.startswith(k)), None)
            runs = runs_for.get(key, 100)
            s = session(path)
            x = {model.graph.input[0].name: RNG.uniform(0, 1, dims).astype(np.float32)}
            times = times_ms(lambda: s.run(None, x), runs)
            ops = sorted({n.op_type for n in model.graph.node})
            line = f"{path.name:<24} ours in ORT {np.median(times):9.3f} ({np.min(times):.3f})"
            if key is not None:
                own = Path(tmp) / f"{key}.onnx"
                if not own.exists():
                    onnx.save(builders[key]().model(), own)
                if "int8" in path.name:
                    qdq = Path(tmp) / f"{key}_int8.onnx"
                    if not qdq.exists():
                        quantize_static(str(own), str(qdq), Images(dims[1:]), quant_format=QuantFormat.QDQ,
                                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
                    own = qdq
                median, best = latency(own, dims[1:], runs)
                line += f"   ORT's own export {median:9.3f} ({best:.3f})"
            print(f"{line}   {runs} runs; ops {' '.join(ops)}", flush=True)


def main():
    if sys.argv[1:2] == ["ours"]:
        if len(sys.argv) < 3:
            sys.exit("usage: onnxruntime_reference.py ours DIR")
        return ours(sys.argv[2])
    if sys.argv[1:2] == ["alternate"]:
        rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 10
        key = sys.argv[3] if len(sys.argv) > 3 else "smallvgg"
        return alternate(rounds, 1000 if key == "smallvgg" else 30, key)
    wanted = sys.argv[1:] or ["smallvgg", "vgg16"]
    models = {
        "smallvgg": (small_vgg, [1, 28, 28], 2000),
        "vgg16": (vgg16_bn, [3, 128, 128], 40),
        "resnet18": (resnet18, [3, 224, 224], 100),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for key in wanted:
            build, shape, runs = models[key]
            fp32, int8 = Path(tmp) / f"{key}.onnx", Path(tmp) / f"{key}_int8.onnx"
            onnx.save(build().model(), fp32)
            quantize_static(str(fp32), str(int8), Images(shape), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
            for label, path in [("fp32", fp32), ("int8", int8)]:
                median, best = latency(path, shape, runs)
                print(f"{key} onnxruntime {ort.__version__} {label}: median {median:.3f} ms, best {best:.3f} ms ({runs} runs, 2 threads)")


if __name__ == "__main__":
    main()
