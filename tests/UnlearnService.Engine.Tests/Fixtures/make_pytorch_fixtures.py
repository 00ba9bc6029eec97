#!/usr/bin/env python3
"""Makes the PyTorch fixtures the engine tests compare against. Run once (Debian: python3-torch,
python3-torchvision) from this folder:  python3 make_pytorch_fixtures.py
Tests never run this; they read the committed files.

- torchvision_resnet18_keys.json: every state-dict key of torchvision's resnet18 with the CIFAR stem
  (3x3 conv1, no max-pool), 10 classes, with its shape and dtype.
- resnet18_cifar_w8.safetensors / resnet18_cifar_w8_io.safetensors: the same torchvision code at width 8
  (stages 8/16/32/64) with trained-looking BatchNorm statistics, and an input with its eval-mode output.
- small_cnn_w4.safetensors / small_cnn_w4_io.safetensors: the zoo's small CNN written in PyTorch, likewise.
- tiny_mlp_torchscript.pt / tiny_mlp_torchscript_io.safetensors: a scripted MLP with BatchNorm (8 → 16 → 3),
  saved with torch.jit.save, and an input with its eval-mode output.
- fashion_cnn_torchscript.pt: the small CNN (width 4, untrained) scripted for 1×28×28 inputs and 10 classes; the
  service's end-to-end test trains it with the engine, registers it and unlearns from it.
"""
import json
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock

DTYPES = {torch.float32: "F32", torch.int64: "I64"}


def save_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def cifar_resnet18(width):
    model = torchvision.models.resnet18(num_classes=10)
    model.conv1 = nn.Conv2d(3, width, 3, 1, 1, bias=False)
    model.maxpool = nn.Identity()
    if width != 64:
        model.bn1 = nn.BatchNorm2d(width)
        model.inplanes = width
        model.layer1 = model._make_layer(BasicBlock, width, 2)
        model.layer2 = model._make_layer(BasicBlock, 2 * width, 2, stride=2)
        model.layer3 = model._make_layer(BasicBlock, 4 * width, 2, stride=2)
        model.layer4 = model._make_layer(BasicBlock, 8 * width, 2, stride=2)
        model.fc = nn.Linear(8 * width, 10)
    return model


class SmallCnn(nn.Module):
    def __init__(self, channels, height, width_px, classes, width):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(2 * width)
        self.fc1 = nn.Linear(2 * width * (height // 4) * (width_px // 4), 128)
        self.fc2 = nn.Linear(128, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class TinyMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.bn = nn.BatchNorm1d(16)
        self.fc2 = nn.Linear(16, 3)

    def forward(self, x):
        return self.fc2(torch.relu(self.bn(self.fc1(x))))


def with_statistics(model, shape):
    # A few train-mode passes give BatchNorm non-trivial running statistics and num_batches_tracked.
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(*shape) * 2 + 0.5)
    model.eval()
    return model


def main():
    torch.manual_seed(1234)
    full = cifar_resnet18(64)
    keys = {k: {"shape": list(v.shape), "dtype": DTYPES[v.dtype]} for k, v in full.state_dict().items()}
    with open("torchvision_resnet18_keys.json", "w") as f:
        json.dump(keys, f, indent=1)

    resnet = with_statistics(cifar_resnet18(8), (8, 3, 32, 32))
    x = torch.randn(2, 3, 32, 32)
    save_safetensors("resnet18_cifar_w8.safetensors", resnet.state_dict())
    save_safetensors("resnet18_cifar_w8_io.safetensors", {"input": x, "output": resnet(x)})

    cnn = with_statistics(SmallCnn(1, 28, 28, 10, 4), (8, 1, 28, 28))
    x = torch.rand(3, 1, 28, 28)
    save_safetensors("small_cnn_w4.safetensors", cnn.state_dict())
    save_safetensors("small_cnn_w4_io.safetensors", {"input": x, "output": cnn(x)})

    mlp = with_statistics(TinyMlp(), (16, 8))
    scripted = torch.jit.script(mlp)
    scripted.save("tiny_mlp_torchscript.pt")
    x = torch.randn(5, 8)
    save_safetensors("tiny_mlp_torchscript_io.safetensors", {"input": x, "output": scripted(x)})

    torch.jit.script(SmallCnn(1, 28, 28, 10, 4)).save("fashion_cnn_torchscript.pt")


if __name__ == "__main__":
    main()
