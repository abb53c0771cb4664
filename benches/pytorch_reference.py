"""PyTorch's own figures for the comparisons our benches make: the eager batch-1 forward (the
baseline every "x faster" of a derived model starts from) and SmallVgg's training step, on the
same machine in the same hour as our benches (the VM's speed varies from hour to hour).

    pip install torch numpy
    python3 benches/pytorch_reference.py eager              # SmallVgg, VGG16-BN, ResNet-18
    python3 benches/pytorch_reference.py eager vgg16        # one model (smallvgg, vgg16, resnet18)
    python3 benches/pytorch_reference.py train              # SmallVgg's step at batch 64, images/s
    python3 benches/pytorch_reference.py alternate 6 smallvgg
        # PyTorch's eager forward, then ours (`cargo bench --bench inference -- --eager MODEL`),
        # round by round; FASTERAI_SERVE=old-bench:new-bench times several built benches

Not part of CI. The architectures are those of `benches/inference.rs` and
`benches/onnxruntime_reference.py`, with random weights and the BatchNorms left in (an eager
forward runs them, as our derived model does): SmallVgg at 1x28x28, torchvision's VGG16-BN layout
(10 classes) at 3x128x128, torchvision's ResNet-18 (10 classes) at 3x224x224. Two intra-op threads,
eval mode, `torch.inference_mode()`, in NCHW and in channels-last. The training step is forward,
cross-entropy, backward and Adam (lr 1e-3) at batch 64, as `cargo bench --bench train_step -- rates`.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import torch
from torch import nn

THREADS = 2


def conv_bn_relu(c_in, c_out):
    return [nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]


def small_vgg():
    return nn.Sequential(
        *conv_bn_relu(1, 32), *conv_bn_relu(32, 32), nn.MaxPool2d(2),
        *conv_bn_relu(32, 64), *conv_bn_relu(64, 64), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(3136, 256), nn.ReLU(inplace=True), nn.Linear(256, 10),
    )


def vgg16_bn():
    layers, c = [], 3
    for block in [[64, 64], [128, 128], [256, 256, 256], [512, 512, 512], [512, 512, 512]]:
        for channels in block:
            layers += conv_bn_relu(c, channels)
            c = channels
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(
        *layers, nn.AdaptiveAvgPool2d(7), nn.Flatten(),
        nn.Linear(25088, 4096), nn.ReLU(inplace=True), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        nn.Linear(4096, 10),
    )


class BasicBlock(nn.Module):
    """torchvision's BasicBlock: two 3x3 convs with BatchNorms, the input (or its strided 1x1
    conv + BatchNorm) added, ReLU."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.downsample is None else self.downsample(x)))


def resnet18():
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
    c = 64
    for channels, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
        layers += [BasicBlock(c, channels, stride), BasicBlock(channels, channels, 1)]
        c = channels
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10))


MODELS = {
    "smallvgg": (small_vgg, (1, 28, 28), 300),
    "vgg16": (vgg16_bn, (3, 128, 128), 30),
    "resnet18": (resnet18, (3, 224, 224), 40),
}


def median_ms(run, runs):
    """The median of `runs` timed calls of `run` (after a tenth as many untimed), in ms."""
    for _ in range(max(2, runs // 10)):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1e3)
    times.sort()
    return times[len(times) // 2]


def eager(name):
    """PyTorch's eval forward of one model at batch 1, NCHW then channels-last: (ms, ms)."""
    build, shape, runs = MODELS[name]
    torch.manual_seed(0)
    model = build().eval()
    x = torch.rand(1, *shape)
    figures = []
    for layout in [torch.contiguous_format, torch.channels_last]:
        m, xi = model.to(memory_format=layout), x.contiguous(memory_format=layout)
        with torch.inference_mode():
            figures.append(median_ms(lambda: m(xi), runs))
    return figures


def train():
    """SmallVgg's training step at batch 64: images/s in NCHW and in channels-last."""
    for layout in [torch.contiguous_format, torch.channels_last]:
        torch.manual_seed(0)
        model = small_vgg().to(memory_format=layout).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        x = torch.rand(64, 1, 28, 28).contiguous(memory_format=layout)
        y = torch.randint(0, 10, (64,))

        def step():
            opt.zero_grad(set_to_none=True)
            nn.functional.cross_entropy(model(x), y).backward()
            opt.step()

        for _ in range(3):
            step()
        steps, start = 20, time.perf_counter()
        for _ in range(steps):
            step()
        rate = steps * 64 / (time.perf_counter() - start)
        print(f"PyTorch {torch.__version__} SmallVgg train step b64 ({layout_name(layout)}): {rate:.0f} images/s")


def layout_name(layout):
    return "channels-last" if layout == torch.channels_last else "NCHW"


def ours(bench, name):
    """Our derived model's eager forward, from a built `inference` bench: its printed median in ms."""
    out = subprocess.run([bench, "--eager", name], check=True, capture_output=True, text=True).stdout
    return float(out.split()[-2])


def built_benches():
    serve = os.environ.get("FASTERAI_SERVE")
    if serve:
        return serve.split(":")
    subprocess.run(["cargo", "bench", "--bench", "inference", "--no-run"], check=True, capture_output=True)
    out = subprocess.run(
        ["cargo", "bench", "--bench", "inference", "--no-run", "--message-format=json"],
        check=True, capture_output=True, text=True,
    ).stdout
    import json

    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "inference" and msg.get("executable"):
            return [msg["executable"]]
    sys.exit("could not find the built inference bench")


def main():
    torch.set_num_threads(THREADS)
    args = sys.argv[1:]
    mode = args[0] if args else "eager"
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, CPU capability {torch.backends.cpu.get_cpu_capability()}")
    if mode == "eager":
        for name in args[1:] or list(MODELS):
            nchw, last = eager(name)
            print(f"{name:<9} eager forward b1: {nchw:8.3f} ms NCHW, {last:8.3f} ms channels-last")
    elif mode == "train":
        train()
    elif mode == "alternate":
        rounds = int(args[1]) if len(args) > 1 else 6
        name = args[2] if len(args) > 2 else "smallvgg"
        benches = built_benches()
        for r in range(rounds):
            nchw, last = eager(name)
            mine = [ours(b, name) for b in benches]
            theirs = min(nchw, last)
            cells = "  ".join(f"{Path(b).name}: {m:.3f} ms ({m / theirs:.2f}x)" for b, m in zip(benches, mine))
            print(f"round {r + 1}: PyTorch {nchw:.3f} NCHW / {last:.3f} channels-last ms; ours {cells}", flush=True)
    else:
        sys.exit(f"unknown mode {mode!r}: eager, train or alternate")


if __name__ == "__main__":
    main()
