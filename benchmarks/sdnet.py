"""Throughput of ResNet-18 and SDNet-18 side by side (train and inference images/s) and their ratio.

Usage: python benchmarks/sdnet.py [--width 64] [--batch 512] [--steps 20] [--device auto] [--fp32]

On a GPU both nets run under bf16 autocast (the CSC stem in fp32) unless --fp32 runs every layer in fp32.
"""

from __future__ import annotations

import argparse

import torch

from scpaper import sdnet
from scpaper.book import runtime


def main() -> None:
    """Measure both networks in interleaved rounds and print images/s, memory and the SDNet/ResNet ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=64)
    parser.add_argument("--batch", type=int, default=512)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--n-iter", type=int, default=2, help="unrolled ISTA steps of the CSC stem")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--fp32", action="store_true", help="no bf16 autocast on a GPU: both nets wholly in fp32")
    args = parser.parse_args()
    device = runtime.pick_device(args.device)
    torch.manual_seed(0)
    models = {"resnet": sdnet.build("resnet", args.width), "sdnet": sdnet.build("sdnet", args.width, n_iter=args.n_iter)}
    result = sdnet.throughput(models, batch_size=args.batch, steps=args.steps, device=device, rounds=args.rounds,
                                amp=not args.fp32)
    for name, r in result.items():
        peak = f", peak {r['peak_mb']:.0f} MB" if "peak_mb" in r else ""
        print(f"{name:7s} {r['params'] / 1e6:.2f}M params  train {r['train_img_s']:9.0f} img/s  "
              f"inference {r['infer_img_s']:9.0f} img/s  saved activations {r['saved_mb']:.0f} MB{peak}")
    for mode in ("train", "infer"):
        print(f"SDNet/ResNet {mode} throughput ratio: {result['sdnet'][f'{mode}_img_s'] / result['resnet'][f'{mode}_img_s']:.3f}")


if __name__ == "__main__":
    main()
