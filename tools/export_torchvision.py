#!/usr/bin/python3
"""Export torchvision ResNet-18 / VGG-16 to ONNX with seeded random weights.

Usage:
  /usr/bin/python3 tools/export_torchvision.py [--model resnet18|vgg16|all] [--out DIR]
        [--opset 13] [--seed 0] [--keep-batchnorm] [--save-io] [--plain]

Writes DIR/resnet18.onnx and/or DIR/vgg16.onnx (about 45 MB and 530 MB): input
`input` of shape batch x 3 x 224 x 224 (symbolic batch), output `logits`
batch x 1000. These files are NOT committed; relua's tests use the small fixtures
of tools/make_onnx_fixtures.py.

Pretrained ImageNet weights cannot be downloaded on the build machine, so the
weights are torchvision's own random initialisation after torch.manual_seed(seed)
(BatchNorm running statistics stay at mean 0, variance 1). With network access the
same command exports real weights by replacing `weights=None` with e.g.
`weights="IMAGENET1K_V1"` (torchvision >= 0.13), or with your own state_dict.

The export is the plain user command:

    torch.onnx.export(model.eval(), torch.randn(1, 3, 224, 224), "resnet18.onnx",
                      opset_version=13, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})

which, in eval mode, folds every BatchNorm into the preceding Conv.
--keep-batchnorm exports with training=TrainingMode.PRESERVE instead, keeping the
BatchNormalization nodes (what LRP canonizers want to see).

--save-io also writes NAME.input.npy (seeded 1x3x224x224 float32) and
NAME.output.npy (PyTorch logits) for a parity check of the loaded model.

Needs Debian 12's python3-torch (1.13.1); uses python3-torchvision (0.14.1) when
installed, else (or with --plain) the plain-torch definitions below, which have
torchvision's module layout and parameter names (`layer1.0.conv1.weight`,
`features.0.weight`, `classifier.6.bias`) and the same initialisation.
"""
import argparse
import os
import sys
import warnings

import torch
import torch.nn as nn

warnings.filterwarnings("ignore")


# ---- plain-torch ResNet-18 and VGG-16 with torchvision's layout --------------------------

class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet18(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, 2)
        self.layer2 = self._make_layer(128, 2, 2)
        self.layer3 = self._make_layer(256, 2, 2)
        self.layer4 = self._make_layer(512, 2, 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False),
                                       nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class VGG16(nn.Module):
    CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]

    def __init__(self, num_classes=1000):
        super().__init__()
        layers, c = [], 3
        for v in self.CFG:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(4096, num_classes))
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.constant_(m.bias, 0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.constant_(m.bias, 0)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


def build(name, plain):
    if not plain:
        try:
            import torchvision
            return getattr(torchvision.models, name)(weights=None), "torchvision " + torchvision.__version__
        except ImportError:
            pass
    return {"resnet18": ResNet18, "vgg16": VGG16}[name](), "plain torch (torchvision layout)"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="all", choices=["resnet18", "vgg16", "all"])
    ap.add_argument("--out", default=".", help="output directory (default: current)")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep-batchnorm", action="store_true",
                    help="TrainingMode.PRESERVE: keep BatchNormalization nodes instead of folding them")
    ap.add_argument("--save-io", action="store_true", help="also write NAME.input.npy and NAME.output.npy")
    ap.add_argument("--plain", action="store_true", help="use the plain-torch definitions, not torchvision")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    names = ["resnet18", "vgg16"] if args.model == "all" else [args.model]
    for name in names:
        torch.manual_seed(args.seed)
        model, source = build(name, args.plain)
        model.eval()
        x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(args.seed + 1))
        path = os.path.join(args.out, name + ".onnx")
        training = torch.onnx.TrainingMode.PRESERVE if args.keep_batchnorm else torch.onnx.TrainingMode.EVAL
        torch.onnx.export(model, (x,), path, opset_version=args.opset, training=training,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
        info = f"{path}: {os.path.getsize(path)} bytes, {source}, opset {args.opset}, seed {args.seed}"
        try:
            import onnx
            m = onnx.load(path, load_external_data=False)
            counts = {}
            for n in m.graph.node:
                counts[n.op_type] = counts.get(n.op_type, 0) + 1
            info += "\n  ops: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        except ImportError:
            pass
        if args.save_io:
            import numpy as np
            with torch.no_grad():
                y = model(x)
            np.save(os.path.join(args.out, name + ".input.npy"), x.numpy())
            np.save(os.path.join(args.out, name + ".output.npy"), y.numpy())
            info += f"\n  wrote {name}.input.npy, {name}.output.npy (top-1 class {int(y.argmax())})"
        print(info)


if __name__ == "__main__":
    sys.exit(main())
