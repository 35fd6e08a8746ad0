#!/usr/bin/env python3
"""Makes the models the AlexNet and TorchScript tests load, and their expected outputs.

    make_test_models.py DIR
DIR/input.npy (n x 3 x 224 x 224, float32) must exist. Writes
- DIR/alexnet.pth: a torchvision-layout AlexNet state dict with seeded random weights, saved
  by torch.save like torchvision's own weights file, and DIR/alexnet_<layer>.npy for pool5,
  fc6 and fc7 (before their ReLU) and fc8;
- DIR/script.pt: a traced module returning a tuple (pooled conv features, linear outputs),
  and DIR/script_0.npy, DIR/script_1.npy.
"""
import sys

import numpy as np
import torch
from torch import nn

out = sys.argv[1]
x = torch.from_numpy(np.load(f"{out}/input.npy"))
torch.manual_seed(7)

# torchvision.models.AlexNet's layout (module indices are the state-dict names).
features = nn.Sequential(
    nn.Conv2d(3, 64, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
    nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
    nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
    nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
    nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
)
classifier = nn.Sequential(
    nn.Dropout(), nn.Linear(9216, 4096), nn.ReLU(),
    nn.Dropout(), nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 1000),
)
alexnet = nn.Module()
alexnet.features, alexnet.avgpool, alexnet.classifier = features, nn.AdaptiveAvgPool2d(6), classifier
alexnet.eval()
torch.save(alexnet.state_dict(), f"{out}/alexnet.pth")
with torch.no_grad():
    pool5 = torch.flatten(alexnet.avgpool(features(x)), 1)
    fc6 = classifier[1](pool5)
    fc7 = classifier[4](torch.relu(fc6))
    fc8 = classifier[6](torch.relu(fc7))
for name, value in [("pool5", pool5), ("fc6", fc6), ("fc7", fc7), ("fc8", fc8)]:
    np.save(f"{out}/alexnet_{name}.npy", value.numpy())


class TwoHeads(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 5, stride=4)
        self.fc = nn.Linear(8, 3)

    def forward(self, images):
        pooled = torch.relu(self.conv(images)).mean(dim=(2, 3))
        return pooled, self.fc(pooled)


script = torch.jit.trace(TwoHeads().eval(), x[:1])
script.save(f"{out}/script.pt")
with torch.no_grad():
    for i, value in enumerate(script(x)):
        np.save(f"{out}/script_{i}.npy", value.numpy())
