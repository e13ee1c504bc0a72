#!/usr/bin/python3
"""AstroMAE reference model in PyTorch, written from ../../docs/spec/astromae.md.

This is a TEST TOOL: the golden tests compare `cai predict` with it, and the benchmark times it. CAI never
needs Python or torch at run time. Run it with /usr/bin/python3 (Debian python3-torch 1.13).

Both transformer-block variants are here:
  - "vit":   timm 0.4.12 `Block` (attn.qkv has a bias);
  - "vitae": ViTAE `NormalCell` with a parallel convolution module (PCM) and q_bias/v_bias.
Module names and attribute names follow the seed's classes so that `state_dict()` gives exactly the keys of
astromae_vit.keys / astromae_vitae.keys (check: `astromae.py check-keys`), and so that
tests/py/seed_modules.py can pickle a whole model the way the seed saved it. Hyper-parameters the
state_dict does not hold (eps, num_heads, scale, padding, groups, class_token) are plain attributes of the
module objects, as in the seed.

The forward passes are written out op by op (no nn.MultiheadAttention, no fused helpers) so that each step
of the spec is visible, and so that `--break BRANCH` can perturb exactly one step: the golden sensitivity
test uses that to show the tolerance catches a single wrong branch.

CLI:
  astromae.py predict --state-dict SD.pt --variant vit|vitae --input PART.pt --batch-size B -o OUT.csv
                      [--checkpoint A.pt (whole-model pickle instead of --state-dict)] [--break BRANCH]
  astromae.py check-keys [--keys-dir DIR]
  astromae.py breaks                       (list the --break names)
  astromae.py dump --state-dict SD.pt --input PART.pt --n 2 -o TRACE.safetensors
                                           (intermediate tensors: vit.tokens, vit.block.i, vit.fc_norm, ...,
                                            inception.i, magnitude.out, head.hidden, output)
"""
import argparse
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

EMBED = 192
DEPTH = 12
HEADS = 3
MLP_RATIO = 4
PATCH = 8
IMG = 32
BANDS = 5

# ---------------------------------------------------------------------------------------------------------
# Deliberate bugs for the sensitivity test. Each one perturbs one branch of the computation the way a real
# implementation bug would; the golden comparison must FAIL for every one of them.
BREAKS = {
    # ViT branch
    "vit": "ViT branch: mean-pool over all 17 tokens (class token included) instead of the 16 patch tokens",
    "patch_order": "ViT branch: 4x4 patch grid flattened column-major instead of row-major",
    "pos_embed": "ViT branch: pos_embed added to the patch tokens only (class token gets no position)",
    "fc_norm": "ViT branch: fc_norm skipped",
    "attn_scale": "attention: scale 1/sqrt(192) instead of 1/sqrt(64)",
    "qv_bias": "ViTAE attention: qkv bias ordered [q_bias, v_bias, 0] instead of [q_bias, 0, v_bias]",
    "pcm": "ViTAE PCM: computed from the post-attention tokens instead of the block input",
    "pcm_act": "ViTAE PCM: ReLU instead of SiLU",
    # Inception branch
    "inception": "Inception branch: features flattened (H,W,C) instead of (C,H,W)",
    "inception_order": "Inception block: branch outputs concatenated in reverse order",
    "inception_branch4": "Inception block: branch4 without its 3x3 max-pool",
    "maxpool_pad": "Inception block: branch4 max-pool pads with 0 instead of -inf",
    "inception_custom": "Inception index 8: branches 1, 3, 4 instead of 1, 2, 4",
    "bn": "ConvBlock BatchNorm: divides by (var+eps) instead of sqrt(var+eps)",
    # magnitude branch and head
    "magnitude": "magnitude branch: bands in reverse order (z..u)",
    "magnitude_relu": "magnitude branch: a ReLU after the last Linear",
    "concat": "head: input ordered [inception, vit, magnitude] instead of [vit, inception, magnitude]",
    # subtle: expected to be BELOW the tolerance (documents what the test cannot see)
    "ln_eps": "LayerNorm eps 1e-5 instead of 1e-6 (subtle)",
    "gelu": "MLP: tanh-approximate GELU instead of the exact erf form (subtle: near the tolerance)",
}
BREAKS_SUBTLE = ("ln_eps", "gelu")
BREAKS_VITAE_ONLY = ("qv_bias", "pcm", "pcm_act")
BROKEN = set()

# `dump` sets this to a dict: the forward pass records its intermediate tensors in it (see trace()).
TRACE = None


def trace(name, x):
    if TRACE is not None:
        TRACE[name] = x.detach().clone()
    return x


# make_checkpoint.py sets this to a function (x, bn) that writes realistic running statistics into `bn`
# from the activations x it is about to normalise (one calibration pass). None in normal use.
CALIBRATE_BN = None


def broken(name):
    return name in BROKEN


def layer_norm(x, ln):
    eps = 1e-5 if broken("ln_eps") else ln.eps
    return F.layer_norm(x, ln.normalized_shape, ln.weight, ln.bias, eps)


def gelu(x):
    return F.gelu(x, approximate="tanh") if broken("gelu") else F.gelu(x)


def batch_norm_eval(x, bn):
    """BatchNorm2d with running statistics (eval mode): (x - mean) / sqrt(var + eps) * weight + bias."""
    if CALIBRATE_BN is not None:
        CALIBRATE_BN(x, bn)
    shape = (1, -1, 1, 1)
    denom = (bn.running_var + bn.eps) if broken("bn") else torch.sqrt(bn.running_var + bn.eps)
    return (x - bn.running_mean.view(shape)) / denom.view(shape) * bn.weight.view(shape) + bn.bias.view(shape)


def conv2d(x, conv):
    return F.conv2d(x, conv.weight, conv.bias, conv.stride, conv.padding, conv.dilation, conv.groups)


# ---------------------------------------------------------------------------------------------------------
# timm 0.4.12 pieces (the seed pickles them as timm.models.* classes; see tests/py/seed_modules.py)

class DropPath(nn.Module):
    """Stochastic depth; the identity at inference."""

    def __init__(self, drop_prob=None):
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x):
        return x


class PatchEmbed(nn.Module):
    """Conv2d 5->192, kernel 8, stride 8: (B,5,32,32) -> (B,192,4,4) -> 16 tokens, grid row-major."""

    def __init__(self, img_size=IMG, patch_size=PATCH, in_chans=BANDS, embed_dim=EMBED):
        super().__init__()
        self.img_size = (img_size, img_size)
        self.patch_size = (patch_size, patch_size)
        self.grid_size = (img_size // patch_size, img_size // patch_size)
        self.num_patches = self.grid_size[0] * self.grid_size[1]
        self.flatten = True
        self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.Identity()

    def forward(self, x):
        y = conv2d(x, self.proj)                       # (B, 192, 4, 4)
        if broken("patch_order"):
            y = y.transpose(2, 3)
        return y.flatten(2).transpose(1, 2)            # (B, 16, 192): token t = row*4 + col


class Mlp(nn.Module):
    def __init__(self, in_features, hidden_features, drop=0.0):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x):
        return F.linear(gelu(F.linear(x, self.fc1.weight, self.fc1.bias)), self.fc2.weight, self.fc2.bias)


def attention(x, qkv_weight, qkv_bias, proj, num_heads, scale):
    """softmax(q k^T * scale) v over num_heads heads, heads concatenated, then proj."""
    B, N, C = x.shape
    if broken("attn_scale"):
        scale = C ** -0.5
    qkv = F.linear(x, qkv_weight, qkv_bias)                                   # (B, N, 3C)
    qkv = qkv.reshape(B, N, 3, num_heads, C // num_heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0], qkv[1], qkv[2]                                           # (B, H, N, C/H)
    a = torch.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1)
    y = (a @ v).transpose(1, 2).reshape(B, N, C)
    return F.linear(y, proj.weight, proj.bias)


class Attention(nn.Module):
    """timm 0.4.12 Attention: qkv Linear with bias."""

    def __init__(self, dim, num_heads=HEADS, qkv_bias=True):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)

    def forward(self, x):
        return attention(x, self.qkv.weight, self.qkv.bias, self.proj, self.num_heads, self.scale)


class Block(nn.Module):
    """Variant A, timm 0.4.12 Block: x += Attn(LN1(x)); x += MLP(LN2(x)); LN eps 1e-6."""

    def __init__(self, dim=EMBED, num_heads=HEADS, mlp_ratio=MLP_RATIO, drop_path=0.1):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads=num_heads, qkv_bias=True)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def forward(self, x):
        x = x + self.attn(layer_norm(x, self.norm1))
        return x + self.mlp(layer_norm(x, self.norm2))


# ---------------------------------------------------------------------------------------------------------
# ViTAE NormalCell (variant B; the seed pickles these as module "NormalCell")

class VitaeMlp(Mlp):
    pass


class VitaeAttention(nn.Module):
    """qkv Linear without bias; its bias is cat(q_bias, zeros, v_bias)."""

    def __init__(self, dim, num_heads=HEADS):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(0.0)

    def forward(self, x):
        zeros = torch.zeros_like(self.v_bias)
        if broken("qv_bias"):
            bias = torch.cat((self.q_bias, self.v_bias, zeros))
        else:
            bias = torch.cat((self.q_bias, zeros, self.v_bias))
        return attention(x, self.qkv.weight, bias, self.proj, self.num_heads, self.scale)


class NormalCell(nn.Module):
    """Variant B: convX = PCM(patch tokens of the input); x += Attn(LN1(x)); x[:,1:] += convX;
    x += MLP(LN2(x)). PCM = Conv(192->768, k, pad k//2, groups g) -> BN -> SiLU -> Conv(768->192, k, g)."""

    def __init__(self, dim=EMBED, num_heads=HEADS, mlp_ratio=MLP_RATIO, pcm_kernel=1, pcm_groups=48,
                 drop_path=0.1, class_token=True):
        super().__init__()
        hidden = int(dim * mlp_ratio)
        self.class_token = class_token
        self.tokens_type = "transformer"
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = VitaeAttention(dim, num_heads=num_heads)
        self.drop_path = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = VitaeMlp(dim, hidden)
        pad = pcm_kernel // 2
        self.PCM = nn.Sequential(
            nn.Conv2d(dim, hidden, pcm_kernel, 1, pad, 1, pcm_groups),
            nn.BatchNorm2d(hidden),
            nn.SiLU(inplace=True),
            nn.Conv2d(hidden, dim, pcm_kernel, 1, pad, 1, pcm_groups),
        )

    def pcm(self, tokens):
        """tokens (B, n, C), n a square: view as a sqrt(n) x sqrt(n) grid, run the PCM, back to tokens."""
        B, n, C = tokens.shape
        w = int(math.isqrt(n))
        g = tokens.reshape(B, w, w, C).permute(0, 3, 1, 2)
        g = conv2d(g, self.PCM[0])
        bn = self.PCM[1]                              # eval: running statistics
        if CALIBRATE_BN is not None:
            CALIBRATE_BN(g, bn)
        g = F.batch_norm(g, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
        g = F.relu(g) if broken("pcm_act") else F.silu(g)
        g = conv2d(g, self.PCM[3])
        return g.permute(0, 2, 3, 1).reshape(B, n, C)

    def forward(self, x):
        first = 1 if self.class_token else 0
        if not broken("pcm"):
            convX = self.pcm(x[:, first:])
        x = x + self.attn(layer_norm(x, self.norm1))
        if broken("pcm"):
            convX = self.pcm(x[:, first:])
        x = torch.cat((x[:, :first], x[:, first:] + convX), dim=1)
        return x + self.mlp(layer_norm(x, self.norm2))


# ---------------------------------------------------------------------------------------------------------
# Inception branch (the seed's blocks.photoz)

class ConvBlock(nn.Module):
    """Conv2d (bias) -> BatchNorm2d (eval, eps 1e-5) -> ReLU."""

    def __init__(self, in_channels, out_channels, **kwargs):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, **kwargs)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x):
        return F.relu(batch_norm_eval(conv2d(x, self.conv), self.bn))


def maxpool_branch4(x, pool):
    """MaxPool 3x3, stride 1, padding 1; the padding never wins the max (it is -inf)."""
    if broken("inception_branch4"):
        return x
    if broken("maxpool_pad"):
        x = F.pad(x, (1, 1, 1, 1), value=0.0)
        return F.max_pool2d(x, pool.kernel_size, pool.stride, 0)
    return F.max_pool2d(x, pool.kernel_size, pool.stride, pool.padding, pool.dilation, pool.ceil_mode)


class InceptionBlock(nn.Module):
    """Concatenation on channels of branch1 (1x1), branch2 (1x1, 3x3 p1), branch3 (1x1, 5x5 p2) and branch4
    (maxpool 3x3 s1 p1, 1x1). The custom block (is_custom) uses branches 1, 2 and 4 only."""

    def __init__(self, in_channels, out_1x1, red_3x3, out_3x3, red_5x5, out_5x5, out_pool, is_custom=False):
        super().__init__()
        self.is_custom = is_custom
        self.branch1 = ConvBlock(in_channels, out_1x1, kernel_size=1)
        self.branch2 = nn.Sequential(ConvBlock(in_channels, red_3x3, kernel_size=1, padding=0),
                                     ConvBlock(red_3x3, out_3x3, kernel_size=3, padding=1))
        self.branch3 = nn.Sequential(ConvBlock(in_channels, red_5x5, kernel_size=1),
                                     ConvBlock(red_5x5, out_5x5, kernel_size=5, padding=2))
        self.branch4 = nn.Sequential(nn.MaxPool2d(kernel_size=3, padding=1, stride=1),
                                     ConvBlock(in_channels, out_pool, kernel_size=1))

    def forward(self, x):
        b1 = self.branch1(x)
        b2 = self.branch2[1](self.branch2[0](x))
        b4 = self.branch4[1](maxpool_branch4(x, self.branch4[0]))
        if self.is_custom:
            if broken("inception_custom"):
                b2 = self.branch3[1](self.branch3[0](x))
            outs = [b1, b2, b4]
        else:
            b3 = self.branch3[1](self.branch3[0](x))
            outs = [b1, b2, b3, b4]
        if broken("inception_order"):
            outs = outs[::-1]
        return torch.cat(outs, dim=1)


INCEPTION_CONFIG = [  # (in, out_1x1, red_3x3, out_3x3, red_5x5, out_5x5, out_pool) for indices 2, 3, 5, 6, 8
    (32, 16, 16, 16, 16, 16, 16),
    (64, 16, 16, 16, 16, 16, 16),
    (64, 8, 8, 8, 8, 8, 8),
    (32, 8, 8, 8, 8, 8, 8),
    (32, 4, 4, 4, 4, 4, 4),
]


class Input_Mix_Model(nn.Module):
    """Inception branch on the image (vis_inception) and magnitude branch; returns cat(1096, 1024)."""

    def __init__(self, in_channel=BANDS, out_channel=32, embed_dim=EMBED):
        super().__init__()
        self.Inception_only = False
        self.magnitude = True
        self.uk_paper = False
        self.embed_dim = embed_dim
        self.device = "cuda"
        self.conv2d_init = nn.Conv2d(in_channel, out_channel, kernel_size=(1, 1), padding_mode="zeros")
        self.avgpool = nn.AvgPool2d(kernel_size=2, stride=2)
        self.avgpool2 = nn.AvgPool2d(kernel_size=2, stride=2)
        self.magnitude_block = nn.Sequential(
            nn.Linear(5, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
            nn.Linear(1024, 1024), nn.ReLU(), nn.Linear(1024, 1024))
        self.config = [dict(zip(("in_channel", "out_11", "in_33", "out_33", "in_55", "out_55", "out_mxpl"), c))
                       for c in INCEPTION_CONFIG]
        c = INCEPTION_CONFIG
        self.vis_inception = nn.Sequential(
            self.conv2d_init,                     # 0  (the same module as conv2d_init: duplicate keys)
            self.avgpool,                         # 1  32 -> 16
            InceptionBlock(*c[0]),                # 2  32 -> 64
            InceptionBlock(*c[1]),                # 3  64 -> 64
            nn.AvgPool2d(kernel_size=2),          # 4  16 -> 8
            InceptionBlock(*c[2]),                # 5  64 -> 32
            InceptionBlock(*c[3]),                # 6  32 -> 32
            nn.AvgPool2d(kernel_size=2),          # 7  8 -> 4
            InceptionBlock(*c[4], is_custom=True),  # 8  32 -> 12
            nn.Flatten(),                         # 9  (C,H,W) -> 192
            nn.Linear(embed_dim, 1096),           # 10
            nn.ReLU(),                            # 11
            nn.Linear(1096, 1096))                # 12

    def inception(self, image):
        v = self.vis_inception
        x = trace("inception.0", conv2d(image, v[0]))
        x = F.avg_pool2d(x, 2, 2)
        x = trace("inception.2", v[2](x))
        x = trace("inception.3", v[3](x))
        x = F.avg_pool2d(x, 2, 2)
        x = trace("inception.5", v[5](x))
        x = trace("inception.6", v[6](x))
        x = F.avg_pool2d(x, 2, 2)
        x = trace("inception.8", v[8](x))             # (B, 12, 4, 4)
        x = x.permute(0, 2, 3, 1).flatten(1) if broken("inception") else x.flatten(1)
        x = F.relu(F.linear(x, v[10].weight, v[10].bias))
        return trace("inception.out", F.linear(x, v[12].weight, v[12].bias))

    def magnitudes(self, mag):
        m = mag.float()                               # the seed stores float64; the model casts
        if broken("magnitude"):
            m = m.flip(1)
        layers = [self.magnitude_block[i] for i in (0, 2, 4, 6, 8)]
        for i, lin in enumerate(layers):
            m = F.linear(m, lin.weight, lin.bias)
            if i < 4 or broken("magnitude_relu"):
                m = F.relu(m)
        return trace("magnitude.out", m)

    def forward(self, x):
        return torch.cat((self.inception(x[0]), self.magnitudes(x[1])), dim=1)


# ---------------------------------------------------------------------------------------------------------
# Top level (the seed's blocks.model_vit_inception.ViT_Astro)

class ViT_Astro(nn.Module):
    def __init__(self, variant="vit", embed_dim=EMBED, depth=DEPTH, num_heads=HEADS, pcm_kernel=1, pcm_groups=48):
        super().__init__()
        if variant not in ("vit", "vitae"):
            raise ValueError("variant must be vit or vitae, got %r" % (variant,))
        self.embed_dim = embed_dim
        # Registration order gives the state_dict order of the .keys files.
        self.fc_norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, embed_dim)
        self.inception_model = Input_Mix_Model(BANDS, 32, embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (IMG // PATCH) ** 2 + 1, embed_dim))
        if variant == "vit":   # timm 0.4.12 VisionTransformer keeps its blocks in an nn.Sequential
            self.blocks = nn.Sequential(*[Block(embed_dim, num_heads) for _ in range(depth)])
        else:
            self.blocks = nn.ModuleList([NormalCell(embed_dim, num_heads, MLP_RATIO, pcm_kernel, pcm_groups)
                                         for _ in range(depth)])
        self.patch_embed = PatchEmbed(IMG, PATCH, BANDS, embed_dim)
        self.vit_block = nn.Sequential(nn.Linear(embed_dim, 1096), nn.ReLU(), nn.Linear(1096, 1096))
        self.concat_block = nn.Sequential(nn.Linear(3216, 1024), nn.ReLU(), nn.Linear(1024, 1))

    def vit(self, image):
        B = image.shape[0]
        x = self.patch_embed(image)                                   # (B, 16, 192)
        if broken("pos_embed"):
            x = torch.cat((self.cls_token.expand(B, -1, -1), x + self.pos_embed[:, 1:]), dim=1)
        else:
            x = torch.cat((self.cls_token.expand(B, -1, -1), x), dim=1) + self.pos_embed
        trace("vit.tokens", x)
        for i, blk in enumerate(self.blocks):
            x = trace("vit.block.%d" % i, blk(x))
        x = x.mean(dim=1) if broken("vit") else x[:, 1:].mean(dim=1)  # class token dropped
        if not broken("fc_norm"):
            x = layer_norm(x, self.fc_norm)
        x = trace("vit.fc_norm", x)
        x = trace("vit.head", F.linear(x, self.head.weight, self.head.bias))
        x = F.relu(F.linear(x, self.vit_block[0].weight, self.vit_block[0].bias))
        return trace("vit.out", F.linear(x, self.vit_block[2].weight, self.vit_block[2].bias))  # (B, 1096)

    def forward(self, x):
        """x = (image float32 (B,5,32,32), magnitude (B,5) float64 or float32) -> (B,1) float32."""
        vit = self.vit(x[0])
        inc = self.inception_model.inception(x[0])
        mag = self.inception_model.magnitudes(x[1])
        feats = (inc, vit, mag) if broken("concat") else (vit, inc, mag)
        h = F.relu(F.linear(torch.cat(feats, dim=1), self.concat_block[0].weight, self.concat_block[0].bias))
        trace("head.hidden", h)
        return trace("output", F.linear(h, self.concat_block[2].weight, self.concat_block[2].bias))


# ---------------------------------------------------------------------------------------------------------
# Loading

def strip_prefix(sd):
    """Accept DataParallel's "module."-prefixed state_dict as well as a plain one."""
    if sd and all(k.startswith("module.") for k in sd):
        return {k[len("module."):]: v for k, v in sd.items()}
    return dict(sd)


def detect_variant(sd):
    return "vitae" if any(k.endswith("attn.q_bias") for k in sd) else "vit"


def model_from_state_dict(sd, variant=None):
    """Build the model whose hyper-parameters fit the state_dict (PCM kernel and groups read off the
    weight shapes) and load it strictly."""
    sd = strip_prefix(sd)
    found = detect_variant(sd)
    if variant is not None and variant != found:
        raise SystemExit("state_dict holds variant %s, not %s" % (found, variant))
    kw = {}
    if found == "vitae":
        w0 = sd["blocks.0.PCM.0.weight"]                     # (768, 192/g, k, k)
        kw = dict(pcm_kernel=int(w0.shape[-1]), pcm_groups=EMBED // int(w0.shape[1]))
    m = ViT_Astro(found, **kw)
    m.load_state_dict(sd, strict=True)
    return m.eval()


def load_model(state_dict=None, checkpoint=None, variant=None):
    if checkpoint:
        here = os.path.dirname(os.path.abspath(__file__))
        sys.path.insert(0, os.path.join(here, "..", "..", "tests", "py"))
        import seed_modules  # noqa: F401  (registers the seed's module names so the pickle resolves)
        obj = torch.load(checkpoint, map_location="cpu")
        m = obj.module if isinstance(obj, nn.DataParallel) else obj
        return m.eval()
    obj = torch.load(state_dict, map_location="cpu")
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    return model_from_state_dict(obj, variant)


def load_partition(path):
    ds = torch.load(path, map_location="cpu")
    image, magnitude = ds.tensors[0], ds.tensors[1]
    return image, magnitude


@torch.no_grad()
def predict(model, image, magnitude, batch_size):
    out = []
    for i in range(0, image.shape[0], batch_size):
        out.append(model((image[i:i + batch_size], magnitude[i:i + batch_size])).reshape(-1))
    return torch.cat(out) if out else torch.zeros(0)


def write_safetensors(path, tensors):
    """float32 tensors -> safetensors (for `dump`)."""
    import json
    import struct
    hdr, blobs, off = {}, [], 0
    for k, t in tensors.items():
        b = t.float().contiguous().numpy().tobytes()
        hdr[k] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(hdr).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_csv(path, pred):
    with open(path, "w") as f:
        f.write("index,prediction\n")
        for i, p in enumerate(pred.tolist()):
            f.write("%d,%.9g\n" % (i, p))


# ---------------------------------------------------------------------------------------------------------
# Key check against the spec's .keys files

def read_keys(path):
    with open(path) as f:
        lines = [l.rstrip("\n") for l in f if l.strip()]
    total = int(lines[0].split()[0])
    rows = []
    for l in lines[1:]:
        name, rest = l.split(" ", 1)
        shape, dtype = rest.rsplit(" ", 1)
        rows.append((name, shape, dtype))
    return total, rows


def fmt_shape(t):
    return "(" + "".join("%d, " % d for d in t.shape).rstrip(" ").rstrip(",") + ("," if t.dim() == 1 else "") + ")"


def check_keys(keys_dir):
    ok = True
    for variant in ("vit", "vitae"):
        total, rows = read_keys(os.path.join(keys_dir, "astromae_%s.keys" % variant))
        m = ViT_Astro(variant)
        sd = m.state_dict()
        mine = [(k, fmt_shape(v), str(v.dtype).replace("torch.", "")) for k, v in sd.items()]
        nparams = sum(p.numel() for p in m.parameters())      # parameters() counts a shared module once
        if mine != rows:
            ok = False
            a, b = set(mine), set(rows)
            for r in sorted(b - a):
                print("%s: missing or different: %s" % (variant, " ".join(r)))
            for r in sorted(a - b):
                print("%s: unexpected: %s" % (variant, " ".join(r)))
            if a == b:
                print("%s: same keys, different order" % variant)
        if nparams != total:
            ok = False
            print("%s: %d parameters, spec says %d" % (variant, nparams, total))
        print("%s: %d keys, %d parameters: %s" % (variant, len(mine), nparams, "OK" if mine == rows and
                                                  nparams == total else "MISMATCH"))
    return ok


def main(argv=None):
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("predict", help="predict a seed partition, CSV index,prediction")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--state-dict", help="state_dict .pt (module.-prefixed or not)")
    src.add_argument("--checkpoint", help="whole-model pickle as the seed saved it")
    p.add_argument("--variant", choices=("vit", "vitae"))
    p.add_argument("--input", required=True, help="seed partition .pt (TensorDataset)")
    p.add_argument("--batch-size", type=int, default=512)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    p.add_argument("--break", dest="brk", action="append", default=[], choices=sorted(BREAKS),
                   help="perturb one branch on purpose (sensitivity test)")
    p.add_argument("--all-breaks", metavar="DIR",
                   help="instead of -o: write DIR/<break>.csv for every break that applies to the variant")
    p.add_argument("-o", "--output")
    k = sub.add_parser("check-keys", help="compare state_dict keys/shapes/dtypes with the spec's .keys files")
    k.add_argument("--keys-dir", default=os.path.join(here, "..", "..", "..", "shared", "spec"))
    sub.add_parser("breaks", help="list the --break names")
    d = sub.add_parser("dump", help="intermediate tensors of the first N galaxies -> safetensors, to find "
                                    "which branch of an engine differs")
    dsrc = d.add_mutually_exclusive_group(required=True)
    dsrc.add_argument("--state-dict")
    dsrc.add_argument("--checkpoint")
    d.add_argument("--variant", choices=("vit", "vitae"))
    d.add_argument("--input", required=True)
    d.add_argument("--n", type=int, default=2)
    d.add_argument("-o", "--output", required=True)
    a = ap.parse_args(argv)

    if a.cmd == "check-keys":
        return 0 if check_keys(a.keys_dir) else 1
    if a.cmd == "breaks":
        for n, d in BREAKS.items():
            print("%-18s %s%s%s" % (n, d, "  [vitae only]" if n in BREAKS_VITAE_ONLY else "",
                                    "  [subtle]" if n in BREAKS_SUBTLE else ""))
        return 0
    if a.cmd == "dump":
        global TRACE
        model = load_model(a.state_dict, a.checkpoint, a.variant)
        image, mag = load_partition(a.input)
        TRACE = {}
        with torch.no_grad():
            model((image[:a.n], mag[:a.n]))
        write_safetensors(a.output, TRACE)
        for k, t in TRACE.items():
            print("%-16s %-18s mean %+.6g  absmax %.6g" % (k, tuple(t.shape), t.mean().item(), t.abs().max().item()))
        TRACE = None
        return 0
    if a.batch_size < 1:
        ap.error("--batch-size must be >= 1")
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    if not a.output and not a.all_breaks:
        ap.error("give -o OUT.csv or --all-breaks DIR")
    model = load_model(a.state_dict, a.checkpoint, a.variant)
    image, mag = load_partition(a.input)
    if a.all_breaks:
        vitae = isinstance(model.blocks[0], NormalCell)
        os.makedirs(a.all_breaks, exist_ok=True)
        for name in BREAKS:
            if name in BREAKS_VITAE_ONLY and not vitae:
                continue
            BROKEN.clear()
            BROKEN.add(name)
            write_csv(os.path.join(a.all_breaks, name + ".csv"), predict(model, image, mag, a.batch_size))
        BROKEN.clear()
    if a.output:
        BROKEN.update(a.brk)
        write_csv(a.output, predict(model, image, mag, a.batch_size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
