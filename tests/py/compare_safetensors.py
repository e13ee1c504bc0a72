#!/usr/bin/python3
"""Check `cai convert` outputs against each other and against the checkpoint they came from.

  compare_safetensors.py A.safetensors B.safetensors --state-dict SD.pt --keys KEYS [--variant V]
                         [--pcm-kernel K --pcm-groups G]

- A and B (converted from the whole-model pickle and from the state_dict) must be tensor-identical: the same
  keys, dtypes, shapes and bytes; their __metadata__ equal apart from "source", where a key absent from one
  file reads as model.h's documented default (a state_dict cannot hold eps/num_heads/scale).
- Their tensors must be exactly the state_dict's (without "module."), bit for bit.
- Their keys, shapes and dtypes must be exactly the spec's .keys file (--keys) or the state_dict's.
- __metadata__ must name the variant (and the PCM kernel/groups for vitae when given).
The safetensors parsing is our own (8-byte LE header length, JSON header, data), checked strictly.
"""
import argparse
import json
import os
import struct
import sys

import torch

DT = {"F32": torch.float32, "I64": torch.int64, "F64": torch.float64, "F16": torch.float16,
      "BF16": torch.bfloat16, "I32": torch.int32, "U8": torch.uint8, "I8": torch.int8}
TORCH2ST = {"float32": "F32", "int64": "I64"}

# src/model/model.h: "A missing key takes the seed's default listed here." A state_dict cannot hold these
# hyper-parameters, so its conversion may leave them out; the pickle's conversion reads them off the modules.
DEFAULTS = {"cai.format": "astromae-weights/1", "embed_dim": "192", "depth": "12", "num_heads": "3",
            "mlp_ratio": "4", "patch_size": "8", "ln_eps": "1e-06", "fc_norm_eps": "1e-06", "attn_scale": "0.125",
            "bn_eps": "1e-05"}
DEFAULTS_VITAE = {"pcm_bn_eps": "1e-05", "pcm_kernel": "1", "pcm_groups": "48", "pcm_padding": "0",
                  "class_token": "true"}


def effective(meta):
    """The metadata as the engine reads it: absent keys take model.h's defaults."""
    eff = dict(DEFAULTS)
    if meta.get("variant") == "vitae":
        eff.update(DEFAULTS_VITAE)
    eff.update({k: v for k, v in meta.items() if k != "source"})
    return eff


def read_st(path):
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError("%s: shorter than 8 bytes" % path)
    (hlen,) = struct.unpack("<Q", raw[:8])
    if 8 + hlen > len(raw):
        raise ValueError("%s: header length %d runs past the end (%d bytes)" % (path, hlen, len(raw)))
    hdr = json.loads(raw[8:8 + hlen].decode("utf-8"))
    meta = hdr.pop("__metadata__", {}) or {}
    data = raw[8 + hlen:]
    tensors = {}
    for k, v in hdr.items():
        b, e = v["data_offsets"]
        if not (0 <= b <= e <= len(data)):
            raise ValueError("%s: %s: data_offsets %r out of range" % (path, k, v["data_offsets"]))
        tensors[k] = (v["dtype"], tuple(v["shape"]), data[b:e])
    return meta, tensors


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--state-dict", required=True)
    ap.add_argument("--keys", help="the spec's .keys file (default: the state_dict's own keys)")
    ap.add_argument("--variant")
    ap.add_argument("--pcm-kernel")
    ap.add_argument("--pcm-groups")
    x = ap.parse_args(argv)
    errs = []
    ma, ta = read_st(x.a)
    mb, tb = read_st(x.b)

    # 1. A vs B
    if set(ta) != set(tb):
        errs.append("A and B differ in keys: only A %s; only B %s" %
                    (sorted(set(ta) - set(tb))[:5], sorted(set(tb) - set(ta))[:5]))
    for k in sorted(set(ta) & set(tb)):
        if ta[k][:2] != tb[k][:2]:
            errs.append("%s: A %s%s vs B %s%s" % (k, ta[k][0], ta[k][1], tb[k][0], tb[k][1]))
        elif ta[k][2] != tb[k][2]:
            errs.append("%s: A and B hold different bytes" % k)
    da, db = effective(ma), effective(mb)
    if da != db:
        diff = sorted(set(da.items()) ^ set(db.items()))
        errs.append("__metadata__ differs apart from source (absent keys read as model.h's defaults): %s" % diff)
    only = sorted((set(ma) ^ set(mb)) - {"source"})
    notes = ["keys present in only one file (equal through the defaults): %s" % only] if only else []

    sd = torch.load(x.state_dict, map_location="cpu")
    sd = {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}

    # 2. the spec's keys
    want = {}
    if x.keys:
        with open(x.keys) as f:
            rows = [l.split() for l in f.read().splitlines()[1:] if l.strip()]
        for r in rows:
            shape = tuple(int(s) for s in " ".join(r[1:-1]).strip("()").replace(",", " ").split())
            want[r[0]] = (TORCH2ST[r[-1]], shape)
    else:
        want = {k: (TORCH2ST[str(t.dtype).replace("torch.", "")], tuple(t.shape)) for k, t in sd.items()}
    got = {k: v[:2] for k, v in ta.items()}
    if got != want:
        for k in sorted(set(want) - set(got))[:10]:
            errs.append("missing key %s" % k)
        for k in sorted(set(got) - set(want))[:10]:
            errs.append("unexpected key %s" % k)
        for k in sorted(set(got) & set(want)):
            if got[k] != want[k]:
                errs.append("%s: %s%s, spec %s%s" % (k, got[k][0], got[k][1], want[k][0], want[k][1]))

    # 3. bit-exact against the state_dict
    for k, t in sd.items():
        if k not in ta:
            continue
        raw = t.contiguous().numpy().tobytes()
        if ta[k][2] != raw:
            errs.append("%s: converted bytes differ from the state_dict's tensor" % k)

    # 4. metadata
    if x.variant and ma.get("variant") != x.variant:
        errs.append("__metadata__ variant %r, expected %r" % (ma.get("variant"), x.variant))
    if x.pcm_kernel and ma.get("pcm_kernel") != x.pcm_kernel:
        errs.append("__metadata__ pcm_kernel %r, expected %r" % (ma.get("pcm_kernel"), x.pcm_kernel))
    if x.pcm_groups and ma.get("pcm_groups") != x.pcm_groups:
        errs.append("__metadata__ pcm_groups %r, expected %r" % (ma.get("pcm_groups"), x.pcm_groups))

    name = "%s vs %s" % (os.path.basename(x.a), os.path.basename(x.b))
    if errs:
        print("%s: FAIL (%d problems)" % (name, len(errs)))
        for e in errs[:30]:
            print("  " + e)
        return 1
    print("%s: ok: %d tensors identical and equal to the state_dict; metadata %s" %
          (name, len(ta), json.dumps({k: v for k, v in sorted(ma.items()) if k != "source"})))
    for n in notes:
        print("  note: " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
