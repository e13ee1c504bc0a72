#!/usr/bin/python3
"""Write a synthetic partition in the seed's format: torch.save(TensorDataset(image, magnitude, redshift)).

  make_inputs.py --n N --seed S -o PART.pt

image float32 (N,5,32,32), magnitude float64 (N,5), redshift float32 (N,), as in contracts.md. The values
look like the SDSS Main Galaxy Sample the seed used (so the model's activations are in a realistic range):
  - redshift z in [0.005, 0.4], most of them around 0.1;
  - r magnitude 14..17.8 with ugriz colours that redden with z (u up to ~20);
  - images in nanomaggies: a sky level plus noise, and a centred elliptical galaxy whose flux per band
    follows its magnitude; all pixels positive.
Deterministic for a given (n, seed): a torch.Generator seeded with `seed` draws everything.
"""
import argparse
import math
import sys

import torch
from torch.utils.data import TensorDataset


def make_partition(n, seed):
    g = torch.Generator().manual_seed(int(seed))

    def u(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(*shape, generator=g, dtype=torch.float64)

    def normal(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    # Redshift: a gamma-like bump around 0.1, clipped to the MGS range.
    z = (0.03 * (normal(n, 4) ** 2).sum(1) + 0.02 * normal(n).abs()).clamp(0.005, 0.4)
    r = u(14.0, 17.77, n)
    # Colours: u-g, g-r, r-i, i-z; redder at higher z, with scatter.
    ug = 1.3 + 2.0 * z + 0.25 * normal(n)
    gr = 0.6 + 1.5 * z + 0.10 * normal(n)
    ri = 0.3 + 0.6 * z + 0.06 * normal(n)
    iz = 0.2 + 0.4 * z + 0.06 * normal(n)
    gm = r + gr
    mag = torch.stack([gm + ug, gm, r, r - ri, r - ri - iz], dim=1)          # u, g, r, i, z   float64

    # Images: elliptical Gaussian profile (sigma 1.2..4 px, smaller when fainter/further), centred +-1 px.
    yy, xx = torch.meshgrid(torch.arange(32, dtype=torch.float64) - 15.5,
                            torch.arange(32, dtype=torch.float64) - 15.5, indexing="ij")
    cx, cy = u(-1.0, 1.0, n), u(-1.0, 1.0, n)
    sig = (4.0 - 8.0 * z).clamp(1.2, 4.0) * u(0.8, 1.2, n)
    q = u(0.4, 1.0, n)                                                      # axis ratio
    th = u(0.0, math.pi, n)
    dx = xx[None] - cx[:, None, None]
    dy = yy[None] - cy[:, None, None]
    c, s = torch.cos(th)[:, None, None], torch.sin(th)[:, None, None]
    a = dx * c + dy * s
    b = (-dx * s + dy * c) / q[:, None, None]
    prof = torch.exp(-0.5 * (a * a + b * b) / (sig[:, None, None] ** 2))
    prof = prof / prof.sum(dim=(1, 2), keepdim=True)                        # unit total flux
    flux = 10.0 ** (-0.4 * (mag - 22.5))                                   # nanomaggies per band
    sky = torch.tensor([0.15, 0.05, 0.08, 0.12, 0.4], dtype=torch.float64)
    noise = torch.tensor([0.05, 0.02, 0.03, 0.04, 0.12], dtype=torch.float64)
    img = flux[:, :, None, None] * prof[:, None] + sky[None, :, None, None]
    img = img + noise[None, :, None, None] * normal(n, 5, 32, 32)
    img = img.clamp(min=1e-4)

    return TensorDataset(img.float().contiguous(), mag.contiguous(), z.float().contiguous())


def main(argv=None):
    ap = argparse.ArgumentParser(description="write a synthetic seed-format partition")
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args(argv)
    if a.n < 0:
        ap.error("--n must be >= 0")
    torch.save(make_partition(a.n, a.seed), a.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
