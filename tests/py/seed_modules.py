"""Give the reference classes the seed's module names, so that a pickled model records them as the seed did.

The published checkpoint is `torch.save(nn.DataParallel(ViT_Astro))`: a pickle that names each class by
module and qualified name. The seed's classes came from its own files and from timm 0.4.12:

  blocks.model_vit_inception   ViT_Astro
  blocks.photoz                Input_Mix_Model, InceptionBlock, ConvBlock
  timm.models.vision_transformer   Block, Attention             (variant "vit")
  timm.models.layers.mlp       Mlp
  timm.models.layers.patch_embed   PatchEmbed
  timm.models.layers.drop      DropPath
  NormalCell                   NormalCell, Attention, Mlp       (variant "vitae")

Importing this module creates those modules in sys.modules (no timm needed), puts the classes in them and
sets each class's __module__ and __qualname__. After that, `torch.save` writes the seed's names and
`torch.load` of such a pickle resolves them back to the reference classes.
"""
import os
import sys
import types

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tools", "reference"))
import astromae  # noqa: E402

PLACES = {
    "blocks.model_vit_inception": {"ViT_Astro": astromae.ViT_Astro},
    "blocks.photoz": {"Input_Mix_Model": astromae.Input_Mix_Model,
                      "InceptionBlock": astromae.InceptionBlock,
                      "ConvBlock": astromae.ConvBlock},
    "timm.models.vision_transformer": {"Block": astromae.Block, "Attention": astromae.Attention},
    "timm.models.layers.mlp": {"Mlp": astromae.Mlp},
    "timm.models.layers.patch_embed": {"PatchEmbed": astromae.PatchEmbed},
    "timm.models.layers.drop": {"DropPath": astromae.DropPath},
    "NormalCell": {"NormalCell": astromae.NormalCell,
                   "Attention": astromae.VitaeAttention,
                   "Mlp": astromae.VitaeMlp},
}


def _module(name):
    """The module `name` in sys.modules, created (with its parents, as packages) when missing."""
    if name in sys.modules:
        return sys.modules[name]
    mod = types.ModuleType(name)
    mod.__path__ = []            # a package, so that children can be imported under it
    sys.modules[name] = mod
    if "." in name:
        parent, _, leaf = name.rpartition(".")
        setattr(_module(parent), leaf, mod)
    return mod


def register():
    for modname, classes in PLACES.items():
        mod = _module(modname)
        for qualname, cls in classes.items():
            cls.__module__ = modname
            cls.__qualname__ = qualname
            setattr(mod, qualname, cls)


register()
