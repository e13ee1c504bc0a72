#!/usr/bin/python3
"""Regenerate the committed seed corpora in fuzz/corpus/ (run with the Debian python3 that has torch).

pickle/      first byte 0x00 + a bare data.pkl (run against fuzz_pickle's fixed archive, storages f/data/0 of
             16 float32 and f/data/1 of 64 float32), or 0x01 + a whole torch.save archive
zip/         torch.save archives (stored, and re-zipped with deflate) and a small two-entry ZIP
safetensors/ small safetensors files (tensors + __metadata__)
"""
import collections
import io
import json
import os
import struct
import sys
import zipfile

import torch
import torch.nn as nn
from torch.utils.data import TensorDataset

here = os.path.dirname(os.path.abspath(__file__))


def save_bytes(obj, **kw):
    b = io.BytesIO()
    torch.save(obj, b, **kw)
    return b.getvalue()


def pkl_of(archive):
    z = zipfile.ZipFile(io.BytesIO(archive))
    return z.read([n for n in z.namelist() if n.endswith("/data.pkl")][0])


def deflated(archive):
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(archive)) as zi, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zo:
        for n in zi.namelist():
            zo.writestr(n, zi.read(n))
    return out.getvalue()


def write(sub, name, data):
    d = os.path.join(here, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors(tensors, meta):
    header, blobs, off = {"__metadata__": meta}, [], 0
    for k, v in tensors.items():
        b = v.contiguous().numpy().tobytes()
        header[k] = {"dtype": {torch.float32: "F32", torch.int64: "I64", torch.float64: "F64"}[v.dtype],
                     "shape": list(v.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header).encode()
    h += b" " * (-(8 + len(h)) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def main():
    torch.manual_seed(0)
    s16 = torch.arange(16, dtype=torch.float32)
    s64 = torch.arange(64, dtype=torch.float32)
    sd = collections.OrderedDict(w=s16.reshape(4, 4).t(), b=s64[3:9], c=s64.reshape(8, 8)[::2, 1::3])
    write("pickle", "state_dict", b"\0" + pkl_of(save_bytes(sd)))
    ds0 = TensorDataset(torch.zeros(0, 5, 32, 32), torch.zeros(0, 5, dtype=torch.float64), torch.zeros(0))
    part0 = save_bytes(ds0)
    write("pickle", "partition_pkl", b"\0" + pkl_of(part0))
    write("pickle", "partition0_archive", b"\1" + part0)
    write("pickle", "state_dict_archive", b"\1" + save_bytes(sd))
    m = nn.Sequential(nn.Conv2d(2, 2, 1), nn.BatchNorm2d(2), nn.LayerNorm(2, eps=1e-6))
    write("pickle", "module_pkl", b"\0" + pkl_of(save_bytes(nn.DataParallel(m))))
    write("pickle", "evil", b"\0\x80\x02cposix\nsystem\nX\x04\x00\x00\x00trueq\x00\x85R.")
    write("pickle", "values", b"\0\x80\x02}(X\x01\x00\x00\x00a]q\x01(K\x01G?\xf0\x00\x00\x00\x00\x00\x00\x8a\x02\xff\x7fe"
          b"X\x01\x00\x00\x00b\x88\x89N\x87h\x01\x85u.")
    write("zip", "partition0", part0)
    write("zip", "partition0_deflate", deflated(part0))
    small = io.BytesIO()
    with zipfile.ZipFile(small, "w") as z:
        z.writestr("a/data.pkl", b"\x80\x02N.")
        z.writestr(zipfile.ZipInfo("a/data/0"), b"x" * 40, compress_type=zipfile.ZIP_DEFLATED)
    write("zip", "two_entries", small.getvalue())
    write("safetensors", "small", safetensors(collections.OrderedDict(
        a=torch.arange(6, dtype=torch.float32).reshape(2, 3), n=torch.tensor(7), d=torch.ones(2, dtype=torch.float64)),
        {"variant": "vit", "cai.format": "astromae-weights/1"}))
    write("safetensors", "empty", safetensors({}, {}))


if __name__ == "__main__":
    main()
