#!/usr/bin/env python3
"""The reference side of bench/cuda/resnet50.js and bench/native/cuda_qgemm_bench: fp16 PyTorch (cuDNN) on the
ResNet-50 v1 architecture with random weights (torchvision's resnet50 when torchvision is installed, else the same
architecture built here), batch 1 latency and batch 32 throughput, and cuBLASLt int8 GEMM TOPS through
torch._int_mm at M = N = K = 4096 and at ResNet-50's convolution shapes as GEMMs (M = output channels,
N = output pixels, K = input channels x taps).

    python3 bench/cuda/torch_resnet50.py [--runs 50] [--out torch.json]

Times: CUDA events around each call after warm-up; medians."""
import argparse
import json
import statistics

import torch
import torch.nn as nn


def bottleneck(cin, mid, stride, downsample):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(cin, mid, 1, bias=False)
            self.b1 = nn.BatchNorm2d(mid)
            self.c2 = nn.Conv2d(mid, mid, 3, stride, 1, bias=False)
            self.b2 = nn.BatchNorm2d(mid)
            self.c3 = nn.Conv2d(mid, mid * 4, 1, bias=False)
            self.b3 = nn.BatchNorm2d(mid * 4)
            self.down = (nn.Sequential(nn.Conv2d(cin, mid * 4, 1, stride, bias=False), nn.BatchNorm2d(mid * 4))
                         if downsample else None)

        def forward(self, x):
            y = torch.relu(self.b1(self.c1(x)))
            y = torch.relu(self.b2(self.c2(y)))
            y = self.b3(self.c3(y))
            return torch.relu(y + (self.down(x) if self.down is not None else x))

    return Block()


def resnet50():
    try:
        import torchvision
        return torchvision.models.resnet50()
    except ImportError:
        layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
        cin = 64
        for mid, blocks, stride in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]:
            for i in range(blocks):
                layers.append(bottleneck(cin, mid, stride if i == 0 else 1, i == 0))
                cin = mid * 4
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2048, 1000)]
        return nn.Sequential(*layers)


def timed(fn, runs):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--runs', type=int, default=50)
    ap.add_argument('--out')
    args = ap.parse_args()
    dev = torch.device('cuda')
    torch.backends.cudnn.benchmark = True
    out = {'device': torch.cuda.get_device_name(0), 'torch': torch.__version__, 'resnet50': [], 'int_mm': []}
    model = resnet50().eval().half().to(dev)
    with torch.inference_mode():
        for batch in (1, 32):
            x = torch.randn(batch, 3, 224, 224, device=dev).half()
            ms = timed(lambda: model(x), args.runs)
            out['resnet50'].append({'batch': batch, 'medianMs': ms, 'imagesPerS': batch * 1000 / ms})
            print(f'ResNet-50 fp16 batch {batch}: {ms:.3f} ms ({batch * 1000 / ms:.1f} images/s)')
        shapes = [('4096^3', 4096, 4096, 4096)]
        for name, c, hw, m, k, s in [('conv1 7x7/2', 3, 224, 64, 7, 2), ('1x1 64->256', 64, 56, 256, 1, 1),
                                     ('3x3 64', 64, 56, 64, 3, 1), ('3x3 256', 256, 14, 256, 3, 1),
                                     ('1x1 2048->512', 2048, 7, 512, 1, 1)]:
            o = (hw + 2 * (k // 2) - k) // s + 1
            # torch._int_mm wants M > 16 and K, N multiples of 8.
            kk = max(16, (c * k * k + 7) // 8 * 8)
            shapes.append((name, m, max(32, (o * o + 7) // 8 * 8), kk))
        for name, m, n, k in shapes:
            a = torch.randint(-128, 127, (max(m, 17), k), dtype=torch.int8, device=dev)
            b = torch.randint(-128, 127, (k, n), dtype=torch.int8, device=dev)
            ms = timed(lambda: torch._int_mm(a, b), args.runs)
            tops = 2 * a.shape[0] * n * k / (ms * 1e-3) / 1e12
            out['int_mm'].append({'shape': name, 'M': a.shape[0], 'N': n, 'K': k, 'medianMs': ms, 'tops': tops})
            print(f'torch._int_mm {name} [{a.shape[0]}x{k}]x[{k}x{n}]: {ms:.4f} ms, {tops:.1f} TOPS')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(out, f, indent=2)


if __name__ == '__main__':
    main()
