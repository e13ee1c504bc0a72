#!/usr/bin/python3
"""Inputs and checks for tests/integration/convert_pickles.sh, written with real torch (run with $TORCH_PY).

  make_pickles.py all DIR MARKER      write every input below into DIR
  make_pickles.py same-partition A B  torch.load both TensorDatasets; exit 1 unless tensors are identical
  make_pickles.py compare-st ST SD [key=value ...]
                                      the safetensors file ST must hold exactly SD's state_dict (names in
                                      order, dtypes, shapes, values) and the listed __metadata__ values

Files written by `all`:
  part.pt            TensorDataset(image f32 (37,5,32,32), magnitude f64 (37,5), redshift f32 (37,))
  part_deflate.pt    the same archive re-zipped with deflate (torch.load reads it too)
  part_view.pt       the same values, each tensor a non-contiguous / offset view of a larger storage
  bad_class.pt       a list of three tensors instead of a TensorDataset
  bad_count.pt       TensorDataset of two tensors
  bad_dtype.pt       magnitude stored as float32
  bad_shape.pt       image (N,5,64,64)
  bad_n.pt           redshift with N-1 rows
  legacy.pt          the pre-1.6 (non-ZIP) torch.save format
  evil.pt            an object whose __reduce__ is os.system("touch MARKER")
  evil_nested.pt     the same object hidden inside an OrderedDict state_dict
  tree.pt            torch.save(nn.DataParallel(m)), m a small module tree under the seed's module names,
                     with non-default hyper-parameters, a shared submodule, a None bias, a non-persistent
                     buffer, non-contiguous and offset parameters, float64 and int64 buffers
  tree_sd.pt         m.state_dict() (what tree.pt must convert to)
  tree_dp_sd.pt      nn.DataParallel(m).state_dict(): every key with the "module." prefix
  tree_disagree.pt   like tree.pt but two blocks disagree on LayerNorm eps (must be refused)
"""
import collections
import json
import os
import struct
import sys
import types
import zipfile

import torch
import torch.nn as nn
from torch.utils.data import TensorDataset


def _module(name):
    if name in sys.modules:
        return sys.modules[name]
    mod = types.ModuleType(name)
    mod.__path__ = []
    sys.modules[name] = mod
    if "." in name:
        parent, _, leaf = name.rpartition(".")
        setattr(_module(parent), leaf, mod)
    return mod


def place(cls, modname, qualname=None):
    """Give a class a seed module name, so the pickle records it as the seed's code did."""
    cls.__module__ = modname
    cls.__qualname__ = qualname or cls.__name__
    setattr(_module(modname), cls.__qualname__, cls)
    return cls


class ConvBlock(nn.Module):
    def __init__(self, cin, cout, k, bn_eps):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=k // 2)
        self.bn = nn.BatchNorm2d(cout, eps=bn_eps)


class Attention(nn.Module):
    def __init__(self, dim, heads, scale):
        super().__init__()
        self.num_heads = heads
        self.scale = scale
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.randn(dim))
        self.v_bias = nn.Parameter(torch.randn(dim))
        self.proj = nn.Linear(dim, dim)


class NormalCell(nn.Module):
    def __init__(self, dim, heads, scale, ln_eps, k, groups, pcm_bn_eps):
        super().__init__()
        self.class_token = False
        self.norm1 = nn.LayerNorm(dim, eps=ln_eps)
        self.attn = Attention(dim, heads, scale)
        self.norm2 = nn.LayerNorm(dim, eps=ln_eps)
        self.PCM = nn.Sequential(nn.Conv2d(dim, dim * 2, k, padding=k // 2, groups=groups),
                                 nn.BatchNorm2d(dim * 2, eps=pcm_bn_eps), nn.SiLU(),
                                 nn.Conv2d(dim * 2, dim, k, padding=k // 2, groups=groups))


class Tiny(nn.Module):
    def __init__(self, disagree=False):
        super().__init__()
        dim = 8
        self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
        self.patch_embed = nn.Module()
        self.patch_embed.proj = nn.Conv2d(5, dim, 4, stride=4)
        self.blocks = nn.ModuleList([NormalCell(dim, 2, 0.3, 2e-6, 3, 4, 1e-3) for _ in range(2)])
        if disagree:
            self.blocks[1].norm2.eps = 5e-6
        self.fc_norm = nn.LayerNorm(dim, eps=3e-6)
        blk = ConvBlock(5, 4, 3, 2e-5)
        self.inception_model = nn.Module()
        self.inception_model.first = blk
        self.inception_model.again = blk                      # shared: two paths, two keys
        self.inception_model.nobias = nn.Conv2d(4, 4, 1, bias=False)   # _parameters['bias'] is None
        self.register_buffer("scratch", torch.ones(3), persistent=False)
        self.register_buffer("counts", torch.arange(6, dtype=torch.int64).reshape(2, 3))
        self.register_buffer("f64", torch.linspace(0, 1, 5, dtype=torch.float64))
        self.transposed = nn.Parameter(torch.randn(6, 4).t())          # strides (1, 4): not contiguous
        base = torch.randn(20)
        self.offset_view = nn.Parameter(base[7:13])                    # storage offset 7
        # deterministic, non-trivial BatchNorm statistics
        for m in self.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.num_batches_tracked.fill_(7)


for _cls, _mod, _q in ((ConvBlock, "blocks.photoz", "ConvBlock"), (Attention, "NormalCell", "Attention"),
                       (NormalCell, "NormalCell", "NormalCell"), (Tiny, "blocks.model_vit_inception", "ViT_Astro")):
    place(_cls, _mod, _q)


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


def partition(n, seed):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(n, 5, 32, 32, generator=g)
    mag = 15 + 5 * torch.rand(n, 5, generator=g, dtype=torch.float64)
    z = 0.4 * torch.rand(n, generator=g)
    return img, mag, z


def rezip_deflate(src, dst):
    with zipfile.ZipFile(src) as zi, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zo:
        for info in zi.infolist():
            zo.writestr(info.filename, zi.read(info.filename))


def write_all(d, marker):
    torch.manual_seed(3)
    img, mag, z = partition(37, 11)
    torch.save(TensorDataset(img, mag, z), f"{d}/part.pt")
    rezip_deflate(f"{d}/part.pt", f"{d}/part_deflate.pt")
    # Views: the same values, laid out awkwardly in bigger storages.
    big_img = torch.zeros(37, 5, 32, 40)
    big_img[:, :, :, 3:35] = img
    mag_t = torch.zeros(5, 40, dtype=torch.float64)
    mag_t[:, 2:39] = mag.t()
    z_big = torch.zeros(80)
    z_big[5:79:2] = z
    view = TensorDataset(big_img[:, :, :, 3:35], mag_t[:, 2:39].t(), z_big[5:79:2])
    assert not view.tensors[0].is_contiguous() and not view.tensors[1].is_contiguous()
    torch.save(view, f"{d}/part_view.pt")
    torch.save([img, mag, z], f"{d}/bad_class.pt")
    torch.save(TensorDataset(img, mag), f"{d}/bad_count.pt")
    torch.save(TensorDataset(img, mag.float(), z), f"{d}/bad_dtype.pt")
    torch.save(TensorDataset(torch.zeros(37, 5, 64, 64), mag, z), f"{d}/bad_shape.pt")
    torch.save(TensorDataset.__new__(TensorDataset), f"{d}/bad_empty.pt")
    ds = TensorDataset(img[:3], mag[:3], z[:3])
    ds.tensors = (img, mag, z[:36])        # TensorDataset's constructor would refuse: set it afterwards
    torch.save(ds, f"{d}/bad_n.pt")
    torch.save(TensorDataset(img, mag, z), f"{d}/legacy.pt", _use_new_zipfile_serialization=False)
    torch.save(Evil(marker), f"{d}/evil.pt")
    torch.save(collections.OrderedDict([("weight", torch.zeros(2)), ("evil", Evil(marker))]), f"{d}/evil_nested.pt")
    m = Tiny()
    torch.save(nn.DataParallel(m), f"{d}/tree.pt")
    torch.save(m.state_dict(), f"{d}/tree_sd.pt")
    torch.save(nn.DataParallel(m).state_dict(), f"{d}/tree_dp_sd.pt")
    torch.save(nn.DataParallel(Tiny(disagree=True)), f"{d}/tree_disagree.pt")


def same_partition(a, b):
    x, y = torch.load(a), torch.load(b)
    assert type(y) is TensorDataset, type(y)
    for i, (p, q) in enumerate(zip(x.tensors, y.tensors)):
        assert p.dtype == q.dtype and p.shape == q.shape, (i, p.dtype, q.dtype, p.shape, q.shape)
        assert torch.equal(p, q), f"tensor {i} differs"
    assert len(x.tensors) == len(y.tensors) == 3
    print(f"same: {len(y)} galaxies")


ST_DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64, "I32": torch.int32,
             "F16": torch.float16, "U8": torch.uint8, "I8": torch.int8, "BOOL": torch.bool}


def compare_st(st, sd_path, expect):
    raw = open(st, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    sd = torch.load(sd_path)
    if len(sd) and all(k.startswith("module.") for k in sd):
        sd = collections.OrderedDict((k[7:], v) for k, v in sd.items())
    assert list(header) == list(sd), f"keys differ:\n C: {list(header)}\n torch: {list(sd)}"
    for k, v in sd.items():
        h = header[k]
        assert ST_DTYPES[h["dtype"]] == v.dtype, (k, h["dtype"], v.dtype)
        assert tuple(h["shape"]) == tuple(v.shape), (k, h["shape"], tuple(v.shape))
        b, e = h["data_offsets"]
        got = torch.frombuffer(bytearray(data[b:e]), dtype=v.dtype).reshape(v.shape) if e > b else \
            torch.zeros(v.shape, dtype=v.dtype)
        assert torch.equal(got, v), f"{k}: values differ"
    for kv in expect:
        key, _, want = kv.partition("=")
        assert meta.get(key) == want, f"__metadata__[{key!r}] = {meta.get(key)!r}, expected {want!r}"
    print(f"same: {len(sd)} tensors, metadata {meta}")


def main(argv):
    if argv[0] == "all":
        write_all(argv[1], argv[2])
    elif argv[0] == "same-partition":
        same_partition(argv[1], argv[2])
    elif argv[0] == "compare-st":
        compare_st(argv[1], argv[2], argv[3:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
