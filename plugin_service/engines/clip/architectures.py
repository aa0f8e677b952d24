"""The five Chinese-CLIP models: names, sizes and where their official checkpoints live.

Facts from OFA-Sys/Chinese-CLIP (``cn_clip/clip/model_configs``, README model card).
"""

from __future__ import annotations

from dataclasses import dataclass

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
CONTEXT_LENGTH = 52  # "all baseline models use 52"


@dataclass(frozen=True)
class ClipArchitecture:
    name: str  # our (and the patched Immich's) model name, Hugging Face style
    arch: str  # cn_clip's name
    struct: str  # cn_clip's "vision@text" config pair
    embed_dim: int
    image_size: int
    checkpoint: str  # official .pt file name, in OFA-Sys/<name> (HF) and AI-ModelScope/<name>


ARCHITECTURES: dict[str, ClipArchitecture] = {
    a.name: a
    for a in (
        ClipArchitecture("chinese-clip-rn50", "RN50", "RN50@RBT3-chinese", 1024, 224, "clip_cn_rn50.pt"),
        ClipArchitecture(
            "chinese-clip-vit-base-patch16",
            "ViT-B-16",
            "ViT-B-16@RoBERTa-wwm-ext-base-chinese",
            512,
            224,
            "clip_cn_vit-b-16.pt",
        ),
        ClipArchitecture(
            "chinese-clip-vit-large-patch14",
            "ViT-L-14",
            "ViT-L-14@RoBERTa-wwm-ext-base-chinese",
            768,
            224,
            "clip_cn_vit-l-14.pt",
        ),
        ClipArchitecture(
            "chinese-clip-vit-large-patch14-336px",
            "ViT-L-14-336",
            "ViT-L-14-336@RoBERTa-wwm-ext-base-chinese",
            768,
            336,
            "clip_cn_vit-l-14-336.pt",
        ),
        ClipArchitecture(
            "chinese-clip-vit-huge-patch14",
            "ViT-H-14",
            "ViT-H-14@RoBERTa-wwm-ext-large-chinese",
            1024,
            224,
            "clip_cn_vit-h-14.pt",
        ),
    )
}

# Immich v3.1.0 CLIP_MODEL_INFO dimensions (immich-ml-protocol.md §3.1): an alias may only
# borrow a name whose dimension matches, or Immich's vector column rejects the embedding.
IMMICH_CLIP_DIMS: dict[str, int] = {
    **dict.fromkeys(
        [
            "RN101__openai",
            "RN101__yfcc15m",
            "ViT-B-16__laion400m_e31",
            "ViT-B-16__laion400m_e32",
            "ViT-B-16__openai",
            "ViT-B-32__laion2b-s34b-b79k",
            "ViT-B-32__laion2b_e16",
            "ViT-B-32__laion400m_e31",
            "ViT-B-32__laion400m_e32",
            "ViT-B-32__openai",
            "XLM-Roberta-Base-ViT-B-32__laion5b_s13b_b90k",
            "XLM-Roberta-Large-Vit-B-32",
        ],
        512,
    ),
    **dict.fromkeys(
        [
            "RN50x4__openai",
            "ViT-B-16-plus-240__laion400m_e31",
            "ViT-B-16-plus-240__laion400m_e32",
            "XLM-Roberta-Large-Vit-B-16Plus",
        ],
        640,
    ),
    **dict.fromkeys(
        [
            "LABSE-Vit-L-14",
            "RN50x16__openai",
            "ViT-B-16-SigLIP-256__webli",
            "ViT-B-16-SigLIP-384__webli",
            "ViT-B-16-SigLIP-512__webli",
            "ViT-B-16-SigLIP-i18n-256__webli",
            "ViT-B-16-SigLIP__webli",
            "ViT-L-14-336__openai",
            "ViT-L-14-quickgelu__dfn2b",
            "ViT-L-14__laion2b-s32b-b82k",
            "ViT-L-14__laion400m_e31",
            "ViT-L-14__laion400m_e32",
            "ViT-L-14__openai",
            "XLM-Roberta-Large-Vit-L-14",
            "nllb-clip-base-siglip__mrl",
            "nllb-clip-base-siglip__v1",
            "ViT-B-16-SigLIP2__webli",
            "ViT-B-32-SigLIP2-256__webli",
        ],
        768,
    ),
    **dict.fromkeys(
        [
            "RN50__cc12m",
            "RN50__openai",
            "RN50__yfcc15m",
            "RN50x64__openai",
            "ViT-H-14-378-quickgelu__dfn5b",
            "ViT-H-14-quickgelu__dfn5b",
            "ViT-H-14__laion2b-s32b-b79k",
            "ViT-L-16-SigLIP-256__webli",
            "ViT-L-16-SigLIP-384__webli",
            "ViT-g-14__laion2b-s12b-b42k",
            "XLM-Roberta-Large-ViT-H-14__frozen_laion5b_s13b_b90k",
            "ViT-L-16-SigLIP2-256__webli",
            "ViT-L-16-SigLIP2-384__webli",
            "ViT-L-16-SigLIP2-512__webli",
        ],
        1024,
    ),
    **dict.fromkeys(
        [
            "ViT-SO400M-14-SigLIP-384__webli",
            "nllb-clip-large-siglip__mrl",
            "nllb-clip-large-siglip__v1",
            "ViT-SO400M-14-SigLIP2__webli",
            "ViT-SO400M-14-SigLIP2-378__webli",
            "ViT-SO400M-16-SigLIP2-256__webli",
            "ViT-SO400M-16-SigLIP2-384__webli",
            "ViT-SO400M-16-SigLIP2-512__webli",
        ],
        1152,
    ),
    **dict.fromkeys(["ViT-gopt-16-SigLIP2-256__webli", "ViT-gopt-16-SigLIP2-384__webli"], 1536),
}


class UnknownClipModel(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def clean_name(name: str) -> str:
    """Immich's own normalisation: the last ``/`` segment, ``:`` → ``_`` (``OFA-Sys/x`` → ``x``)."""
    return name.strip().rsplit("/", 1)[-1].replace(":", "_")


def parse_aliases(spec: str) -> dict[str, str]:
    """``"ViT-B-16__openai=chinese-clip-vit-base-patch16,…"`` → checked mapping."""
    aliases: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        alias, sep, target = item.partition("=")
        alias, target = clean_name(alias), clean_name(target)
        if not sep or target not in ARCHITECTURES:
            raise ValueError(f"CLIP alias {item!r}: expected ALIAS=<one of {', '.join(ARCHITECTURES)}>")
        wanted = IMMICH_CLIP_DIMS.get(alias)
        if wanted is not None and wanted != ARCHITECTURES[target].embed_dim:
            raise ValueError(
                f"CLIP alias {item!r}: Immich stores {wanted}-d vectors for {alias}, but {target} produces "
                f"{ARCHITECTURES[target].embed_dim}-d ones"
            )
        aliases[alias] = target
    return aliases


def resolve(name: str, aliases: dict[str, str] | None = None) -> ClipArchitecture:
    cleaned = clean_name(name)
    cleaned = (aliases or {}).get(cleaned, cleaned)
    try:
        return ARCHITECTURES[cleaned]
    except KeyError:
        raise UnknownClipModel(f"unknown CLIP model {name!r}; this service serves {', '.join(ARCHITECTURES)}") from None
