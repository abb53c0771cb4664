"""The PyTorch fixtures of `tests/torch_import.rs`: small models built in PyTorch with seeded random
weights, their `state_dict`s saved with `safetensors.torch.save_file`, and the logits PyTorch computes
for a seeded input in eval mode. Run by hand (not by CI), from the repository's root:

    pip install torch torchvision safetensors
    python3 scripts/torch_fixture.py

writes into tests/data/torch/:
- tiny_vgg.safetensors: a VGG-style net laid out as torchvision's VGG (`features.N`, `avgpool`,
  `classifier.N`) at 3x16x16, batch norms with non-trivial running statistics;
- tiny_vgg_f16.safetensors: the same state_dict in float16 (as `model.half().state_dict()` saves it);
- tiny_resnet18.safetensors: torchvision's own `ResNet` class and `BasicBlock`s in ResNet-18's
  layout ([2, 2, 2, 2] blocks) at 1/16 of the width (4, 8, 16, 32 channels), 10 classes, 3x32x32;
- *.expected.safetensors: `input` (2 samples) and `logits` PyTorch computes in eval mode (for the
  f16 file, with the f16-rounded weights in float32);
- resnet18_keys.txt, vgg16_bn_keys.txt: every key of torchvision's `resnet18(num_classes=10)` and
  `vgg16_bn(num_classes=10)` state_dicts with its shape (`name d0,d1,..`), so a test checks the
  name maps of our ResNet-18 and VGG16-BN without a 45 MB or 537 MB file.

Every file is far under 1 MB. The Rust models they load into are in tests/support/torch.rs.
"""

import os

import torch
import torch.nn as nn
import torchvision
from safetensors.torch import save_file
from torchvision.models.resnet import BasicBlock, ResNet

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "data", "torch")


class TinyVgg(nn.Module):
    """torchvision's VGG forward (features, avgpool, flatten, classifier) at toy size."""

    def __init__(self, num_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
            nn.Conv2d(8, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(inplace=True), nn.MaxPool2d(2, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((2, 2))
        self.classifier = nn.Sequential(
            nn.Linear(16 * 2 * 2, 32), nn.ReLU(True), nn.Dropout(0.5), nn.Linear(32, num_classes),
        )

    def forward(self, x):
        x = self.features(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


def tiny_resnet18(num_classes=10):
    """torchvision's ResNet with ResNet-18's blocks at widths 4, 8, 16, 32 (its constructor fixes
    64..512, so the stem, stages and head are rebuilt with its own `_make_layer`)."""
    model = ResNet(BasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    model.inplanes = 4
    model.conv1 = nn.Conv2d(3, 4, kernel_size=7, stride=2, padding=3, bias=False)
    model.bn1 = nn.BatchNorm2d(4)
    model.layer1 = model._make_layer(BasicBlock, 4, 2)
    model.layer2 = model._make_layer(BasicBlock, 8, 2, stride=2)
    model.layer3 = model._make_layer(BasicBlock, 16, 2, stride=2)
    model.layer4 = model._make_layer(BasicBlock, 32, 2, stride=2)
    model.fc = nn.Linear(32, num_classes)
    return model


def randomize(model, shape, generator):
    """Weights of every scale, then batch-norm statistics from a few training batches, then the
    batch norms' affine parameters and statistics pushed away from their defaults."""
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=generator) * 0.3)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(shape, generator=generator) * 2.0 + 0.5)
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.copy_(torch.rand(m.weight.shape, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(m.bias.shape, generator=generator) * 0.2)
                m.running_mean.add_(torch.randn(m.running_mean.shape, generator=generator) * 0.1)
                m.running_var.mul_(torch.rand(m.running_var.shape, generator=generator) + 0.5)
    model.eval()


def save(model, name, input_shape, seed):
    generator = torch.Generator().manual_seed(seed)
    randomize(model, input_shape, generator)
    x = torch.randn(input_shape, generator=generator)
    with torch.no_grad():
        logits = model(x)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, os.path.join(OUT, f"{name}.safetensors"))
    save_file({"input": x, "logits": logits}, os.path.join(OUT, f"{name}.expected.safetensors"))
    return x


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)

    vgg = TinyVgg()
    x = save(vgg, "tiny_vgg", (2, 3, 16, 16), seed=1)
    # The same weights in float16, and PyTorch's logits with those rounded weights.
    half = {k: (v.half() if v.is_floating_point() else v).contiguous() for k, v in vgg.state_dict().items()}
    save_file(half, os.path.join(OUT, "tiny_vgg_f16.safetensors"))
    rounded = TinyVgg()
    rounded.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in half.items()})
    rounded.eval()
    with torch.no_grad():
        logits = rounded(x)
    save_file({"input": x, "logits": logits}, os.path.join(OUT, "tiny_vgg_f16.expected.safetensors"))

    save(tiny_resnet18(), "tiny_resnet18", (2, 3, 32, 32), seed=2)

    for name in ["resnet18", "vgg16_bn"]:
        full = getattr(torchvision.models, name)(num_classes=10)
        with open(os.path.join(OUT, f"{name}_keys.txt"), "w") as f:
            f.write(f"# torchvision {torchvision.__version__} {name}(num_classes=10).state_dict(): key shape\n")
            for key, value in full.state_dict().items():
                f.write(f"{key} {','.join(str(d) for d in value.shape)}\n")

    for name in sorted(os.listdir(OUT)):
        print(f"{name}: {os.path.getsize(os.path.join(OUT, name))} bytes")


if __name__ == "__main__":
    main()
