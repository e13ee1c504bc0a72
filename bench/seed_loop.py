#!/usr/bin/python3
"""The seed's own inference loop, timed: DataLoader over a TensorDataset partition, torch.profiler around
each batch (its "cpu time" was a profiler total), gc.collect() after each batch, the model from the PyTorch
reference (tools/reference/astromae.py, the seed's module names). For bench/full_set.sh's comparison row.

  bench/seed_loop.py --state-dict SD.pt PART.pt [PART.pt ...] [--batch 512] [--threads T]

Prints one JSON line: {"impl":"seed-loop","galaxies":N,"seconds":S,"galaxies_per_s":X,"threads":T}.
Run with /usr/bin/python3 (Debian python3-torch).
"""
import argparse
import gc
import json
import os
import sys
import time

import torch
from torch.utils.data import DataLoader

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools", "reference"))
import astromae  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--state-dict", required=True)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("parts", nargs="+")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model = astromae.load_model(state_dict=a.state_dict)
    model.eval()
    n, t0 = 0, time.perf_counter()
    for p in a.parts:
        ds = torch.load(p)  # the seed's TensorDataset(image, magnitude, redshift)
        for image, magnitude, _z in DataLoader(ds, batch_size=a.batch, shuffle=False):
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                with torch.no_grad():
                    model((image, magnitude))
            prof.key_averages().self_cpu_time_total  # what the seed read off the profiler
            gc.collect()
            n += image.shape[0]
    s = time.perf_counter() - t0
    print(json.dumps({"impl": "seed-loop", "galaxies": n, "seconds": round(s, 3),
                      "galaxies_per_s": round(n / s, 2), "threads": a.threads}))


if __name__ == "__main__":
    main()
