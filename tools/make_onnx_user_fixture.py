#!/usr/bin/python3
"""Writes tests/data/onnx_user/: a model exported by plain torch.onnx.export, unedited.

Unlike tools/make_onnx_fixtures.py, nothing is post-processed: F.pad's pad
vector stays a chain of ConstantOfShape/Concat/Reshape/Slice/Transpose/Cast
nodes (relua folds it at load time), F.interpolate(size=...) exports
Shape -> Slice -> Concat feeding Resize's sizes (run on integer shapes), and
x.view(x.size(0), -1) is Shape -> Gather -> Unsqueeze -> Concat -> Reshape.
Opsets 11, 13, 17; symbolic batch. Run with Debian's interpreter:
    /usr/bin/python3 tools/make_onnx_user_fixture.py [--out DIR]
"""
import argparse
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class UserNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 4, 3)
        self.c2 = nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 5)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        x = F.pad(x, (1, 2, 0, 1), mode="reflect")
        x = F.relu6(self.c1(x))
        x = F.pad(x, (1, 1, 1, 1), value=0.5)
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.interpolate(x, size=(10, 10), mode="bilinear", align_corners=False)
        x = F.hardtanh(self.c2(x), -0.5, 0.5)
        x = F.avg_pool2d(x, 3, stride=1)
        x = self.drop(x.view(x.size(0), -1))
        return F.log_softmax(self.fc(x), dim=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "tests", "data", "onnx_user"))
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(0)
    m = UserNet().eval()
    x = torch.randn(2, 3, 7, 9)
    for op in (11, 13, 17):
        torch.onnx.export(m, x, os.path.join(args.out, f"user_net_op{op}.onnx"), opset_version=op,
                          input_names=["input"], output_names=["logits"],
                          dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    np.save(os.path.join(args.out, "user_net.input.npy"), x.numpy())
    with torch.no_grad():
        np.save(os.path.join(args.out, "user_net.output.npy"), m(x).numpy())


if __name__ == "__main__":
    main()
