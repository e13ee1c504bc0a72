#!/usr/bin/python3
"""Deterministic random AstroMAE weights, saved the way the seed saved its checkpoint, and as a state_dict.

  make_checkpoint.py --variant vit|vitae --seed S --out-pickle A.pt --out-state-dict B.pt
                     [--out-state-dict-plain C.pt] [--pcm-kernel K --pcm-groups G] [--no-fake-cuda]

A.pt: torch.save(nn.DataParallel(model)) with the classes under the seed's module names
      (tests/py/seed_modules.py): a pickle of the whole object, as the seed's training script wrote it.
      By default it also looks like it was saved from a GPU, as the real one was: DataParallel carries
      device_ids [0], output_device 0, src_device_obj torch.device('cuda', 0), and each storage's location
      is 'cuda:0' (torch.load(..., map_location='cpu') reads it on a CPU).
B.pt: DataParallel's state_dict, every key prefixed with "module.".
C.pt: (optional) the same state_dict without the prefix.

The weights are random but not trivial, so that a golden comparison means something:
  - every BatchNorm has running statistics that are not (0, 1) and an affine part that is not identity;
    they are calibrated on synthetic galaxies (one pass) so activations stay O(1), then perturbed;
  - q_bias / v_bias (vitae) and every bias are non-zero; LayerNorm affine is not identity;
  - layer scales keep activations O(1) (He-style init after ReLUs), and the output is scaled to look like
    redshifts (mean ~0.15, spread ~0.1 over galaxies), so predictions vary from galaxy to galaxy.
Everything comes from torch.manual_seed(seed): the same seed gives the same bytes of tensors.
"""
import argparse
import os
import sys

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import seed_modules  # noqa: E402,F401  (must come before any pickling)
import astromae  # noqa: E402
import make_inputs  # noqa: E402


def init_weights(m, g):
    def randn(*shape):
        return torch.randn(*shape, generator=g)

    def rand(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(*shape, generator=g)

    relu_fed = set()   # Linear layers whose input comes out of a ReLU: He gain 2
    for seq in (m.vit_block, m.concat_block, m.inception_model.magnitude_block, m.inception_model.vis_inception):
        mods = list(seq)
        for i in range(1, len(mods)):
            if isinstance(mods[i], nn.Linear) and isinstance(mods[i - 1], nn.ReLU):
                relu_fed.add(id(mods[i]))
    relu_fed.add(id(m.inception_model.vis_inception[10]))    # fed by a flatten of ReLU outputs

    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Linear):
                fan_in = mod.weight.shape[1]
                gain = 2.0 if id(mod) in relu_fed else 1.0
                mod.weight.copy_(randn(*mod.weight.shape) * (gain / fan_in) ** 0.5)
                if mod.bias is not None:
                    mod.bias.copy_(0.1 * randn(*mod.bias.shape))
            elif isinstance(mod, nn.Conv2d):
                fan_in = mod.weight[0].numel()
                mod.weight.copy_(randn(*mod.weight.shape) * (2.0 / fan_in) ** 0.5)
                if mod.bias is not None:
                    mod.bias.copy_(0.1 * randn(*mod.bias.shape))
            elif isinstance(mod, nn.LayerNorm):
                mod.weight.copy_(rand(0.7, 1.3, *mod.weight.shape))
                mod.bias.copy_(0.1 * randn(*mod.bias.shape))
            elif isinstance(mod, nn.BatchNorm2d):
                mod.weight.copy_(rand(0.6, 1.4, *mod.weight.shape))
                mod.bias.copy_(0.2 * randn(*mod.bias.shape))
                mod.num_batches_tracked.fill_(12345)
            elif isinstance(mod, astromae.VitaeAttention):
                mod.q_bias.copy_(0.3 * randn(*mod.q_bias.shape))
                mod.v_bias.copy_(0.3 * randn(*mod.v_bias.shape))
        # Residual branches a little smaller than the stream, as in a trained ViT.
        for blk in m.blocks:
            blk.attn.proj.weight.mul_(0.5)
            blk.mlp.fc2.weight.mul_(0.5)
        m.cls_token.copy_(0.3 * randn(*m.cls_token.shape))
        m.pos_embed.copy_(0.3 * randn(*m.pos_embed.shape))
        # The PCM's output convolution: keep convX of the same order as the attention branch.
        if isinstance(m.blocks[0], astromae.NormalCell):
            for blk in m.blocks:
                blk.PCM[3].weight.mul_(0.5)


def calibrate(m, g, n=256):
    """One pass over synthetic galaxies: set each BatchNorm's running stats from the activations it sees
    (perturbed: mean off by 0.1 sd, var scaled by 0.6..1.6), centre the magnitude branch's first layer on the
    magnitudes' range, and scale the output to redshift-like values."""
    ds = make_inputs.make_partition(n, seed=int(torch.randint(0, 2**31 - 1, (1,), generator=g)))
    image, mag = ds.tensors[0], ds.tensors[1]

    def set_stats(x, bn):
        if getattr(bn, "_calibrated", False):
            return
        mean = x.mean(dim=(0, 2, 3))
        var = x.var(dim=(0, 2, 3), unbiased=False).clamp(min=1e-4)
        bn.running_mean.copy_(mean + 0.1 * var.sqrt() * torch.randn(mean.shape, generator=g))
        bn.running_var.copy_(var * (0.6 + torch.rand(var.shape, generator=g)))
        bn._calibrated = True

    with torch.no_grad():
        lin0 = m.inception_model.magnitude_block[0]
        mu = mag.float().mean(0)
        sd = mag.float().std(0)
        w = torch.randn(lin0.weight.shape, generator=g) / (5 ** 0.5) / sd[None, :]
        lin0.weight.copy_(w)
        lin0.bias.copy_(-(w @ mu) + 0.3 * torch.randn(lin0.bias.shape, generator=g))

        astromae.CALIBRATE_BN = set_stats
        try:
            m((image, mag))
        finally:
            astromae.CALIBRATE_BN = None
        for mod in m.modules():
            if hasattr(mod, "_calibrated"):
                del mod._calibrated

        last = m.concat_block[2]
        out = m((image, mag)).reshape(-1)
        s = out.std().clamp(min=1e-6)
        last.weight.mul_(0.1 / s)
        last.bias.copy_(last.bias * 0.1 / s)
        out = m((image, mag)).reshape(-1)
        last.bias.add_(0.15 - out.mean())


def build(variant, seed, pcm_kernel=1, pcm_groups=48):
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    kw = dict(pcm_kernel=pcm_kernel, pcm_groups=pcm_groups) if variant == "vitae" else {}
    m = astromae.ViT_Astro(variant, **kw).eval()
    init_weights(m, g)
    calibrate(m, g)
    return m


def fake_cuda_save(obj, path):
    """torch.save, with every storage's location recorded as 'cuda:0' like a checkpoint saved on a GPU."""
    import torch.serialization as ser
    orig = ser.location_tag
    ser.location_tag = lambda storage: "cuda:0"
    try:
        torch.save(obj, path)
    finally:
        ser.location_tag = orig


def main(argv=None):
    ap = argparse.ArgumentParser(description="deterministic random AstroMAE checkpoint in the seed's format")
    ap.add_argument("--variant", choices=("vit", "vitae"), required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out-pickle")
    ap.add_argument("--out-state-dict")
    ap.add_argument("--out-state-dict-plain")
    ap.add_argument("--pcm-kernel", type=int, default=1)
    ap.add_argument("--pcm-groups", type=int, default=48)
    ap.add_argument("--no-fake-cuda", action="store_true", help="record storages as 'cpu' (torch's default)")
    a = ap.parse_args(argv)

    m = build(a.variant, a.seed, a.pcm_kernel, a.pcm_groups)
    dp = nn.DataParallel(m)
    if not a.no_fake_cuda:      # what DataParallel holds when it was built on a CUDA machine
        dp.dim = 0
        dp.device_ids = [0]
        dp.output_device = 0
        dp.src_device_obj = torch.device("cuda", 0)
    if a.out_pickle:
        (torch.save if a.no_fake_cuda else fake_cuda_save)(dp, a.out_pickle)
        # Round trip: the pickle loads back (through the seed's module names) to the same predictions.
        back = torch.load(a.out_pickle, map_location="cpu").module.eval()
        ds = make_inputs.make_partition(8, seed=a.seed + 7)
        with torch.no_grad():
            x = (ds.tensors[0], ds.tensors[1])
            if not torch.equal(back(x), m(x)):
                raise SystemExit("make_checkpoint: pickle round trip changed the predictions")
    if a.out_state_dict:
        torch.save(dp.state_dict(), a.out_state_dict)
    if a.out_state_dict_plain:
        torch.save(m.state_dict(), a.out_state_dict_plain)
    return 0


if __name__ == "__main__":
    sys.exit(main())
