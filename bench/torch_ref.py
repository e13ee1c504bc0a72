#!/usr/bin/python3
"""Time the PyTorch reference (tools/reference/astromae.py) the way `cai bench` times the engine.

  bench/torch_ref.py [--cai CAI] [--weights W.safetensors | --state-dict SD.pt] [--input PART.pt]
                     [--variant vitae] [--threads 1,2] [--batch 32,128,512] [--galaxies 2048] [--seconds 3]

Same inputs as `cai bench`: with --cai, it asks cai for them, i.e.
    cai bench --make-weights W --variant V --seed 1         (the random weights cai bench uses)
    cai synth --galaxies N --seed 7 --format pt ...          (cai bench's galaxies: seed 7, ids 0..N-1)
and reads both (safetensors parsed here). Without --cai (or with --weights/--input), it uses the given files,
else tests/py's generators (make_checkpoint.build / make_inputs.make_partition). Throughput does not depend on
the values, only on the shapes; the inputs are shared so that both sides do exactly the same work.

For each (threads, batch): torch.set_num_threads(T), one warm-up batch, then whole batches cycling over the
galaxies until --seconds have passed. Prints one JSON line per cell:
    {"impl":"pytorch","threads":T,"batch":B,"galaxies_per_s":X, ...}
Run with /usr/bin/python3 (Debian python3-torch 1.13; its BLAS is whatever libblas.so.3 points to: install
libopenblas0-openmp, as scripts/deps.sh test does, or torch's Linear layers run on the reference BLAS).
"""
import argparse
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools", "reference"))
sys.path.insert(0, os.path.join(ROOT, "tests", "py"))
import astromae  # noqa: E402

ST_DTYPES = {"F32": torch.float32, "I64": torch.int64, "F64": torch.float64}


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (hlen,) = struct.unpack("<Q", raw[:8])
    hdr = json.loads(raw[8:8 + hlen])
    hdr.pop("__metadata__", None)
    base = 8 + hlen
    sd = {}
    for k, v in hdr.items():
        b, e = v["data_offsets"]
        t = torch.frombuffer(bytearray(raw[base + b:base + e]), dtype=ST_DTYPES[v["dtype"]])
        sd[k] = t.reshape(v["shape"]).clone()
    return sd


def blas_name():
    try:
        return os.path.realpath("/usr/lib/x86_64-linux-gnu/libblas.so.3")
    except OSError:
        return "?"


def machine():
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(l.split(":", 1)[1].strip() for l in f if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "loadavg": round(os.getloadavg()[0], 2)}


def main(argv=None):
    ap = argparse.ArgumentParser(description="time the PyTorch reference")
    ap.add_argument("--cai", help="cai binary: take cai bench's weights and galaxies from it")
    ap.add_argument("--weights", help="safetensors weights")
    ap.add_argument("--state-dict", help="state_dict .pt")
    ap.add_argument("--input", help="seed .pt partition")
    ap.add_argument("--variant", default="vitae", choices=("vit", "vitae"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batch", default="32,128,512")
    ap.add_argument("--galaxies", type=int, default=2048)
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=1, help="weights seed (cai bench's default is 1)")
    a = ap.parse_args(argv)
    threads = [int(x) for x in a.threads.split(",")]
    batches = [int(x) for x in a.batch.split(",")]
    tmp = tempfile.mkdtemp(prefix="torch_ref.")
    src = {}

    if a.cai and not a.weights and not a.state_dict:
        a.weights = os.path.join(tmp, "w.safetensors")
        subprocess.run([a.cai, "bench", "--make-weights", a.weights, "--variant", a.variant, "--seed",
                        str(a.seed)], check=True, stdout=subprocess.DEVNULL)
    if a.cai and not a.input:
        d = os.path.join(tmp, "synth")
        subprocess.run([a.cai, "synth", "--galaxies", str(a.galaxies), "--seed", "7", "--format", "pt",
                        "--galaxies-per-file", str(a.galaxies), "-o", d, "-q"], check=True)
        a.input = os.path.join(d, "1.pt")

    if a.weights:
        model = astromae.model_from_state_dict(read_safetensors(a.weights), a.variant)
        src["weights"] = a.weights
    elif a.state_dict:
        model = astromae.load_model(a.state_dict, None, a.variant)
        src["weights"] = a.state_dict
    else:
        import make_checkpoint
        model = make_checkpoint.build(a.variant, a.seed).eval()
        src["weights"] = "make_checkpoint.build(%s, %d)" % (a.variant, a.seed)
    if a.input:
        image, mag = astromae.load_partition(a.input)
        src["input"] = a.input
    else:
        import make_inputs
        ds = make_inputs.make_partition(a.galaxies, 7)
        image, mag = ds.tensors[0], ds.tensors[1]
        src["input"] = "make_inputs.make_partition(%d, 7)" % a.galaxies
    n = image.shape[0]
    print(json.dumps({"impl": "pytorch", "torch": torch.__version__, "variant": a.variant, "galaxies": n,
                      "blas": blas_name(), **machine(), **src}), flush=True)

    with torch.no_grad():
        for t in threads:
            torch.set_num_threads(t)
            for b in batches:
                if b > n:
                    continue
                model((image[:b], mag[:b]))                      # warm-up
                done, i, t0 = 0, 0, time.perf_counter()
                while True:
                    if i + b > n:
                        i = 0
                    model((image[i:i + b], mag[i:i + b]))
                    i += b
                    done += b
                    el = time.perf_counter() - t0
                    if el >= a.seconds:
                        break
                print(json.dumps({"impl": "pytorch", "threads": t, "batch": b,
                                  "galaxies_per_s": round(done / el, 2), "galaxies": done,
                                  "seconds": round(el, 3), "loadavg": round(os.getloadavg()[0], 2)}),
                      flush=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
