"""Service settings, read once from the environment (``PLUGIN_SERVICE_*``).

Settings are an immutable msgspec struct passed explicitly to whoever needs
them; nothing reads ``os.environ`` after start-up.  Immich's own variable names
(``MACHINE_LEARNING_MODEL_TTL``, ``MACHINE_LEARNING_REQUEST_THREADS``,
``HF_ENDPOINT``) are honoured as fallbacks so an existing ML container's
environment keeps meaning the same thing.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import msgspec

ENV_PREFIX = "PLUGIN_SERVICE_"


def _default_model_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "plugin-service" / "models")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 3003
    # Model store
    model_dir: str = msgspec.field(default_factory=_default_model_dir)
    offline: bool = False
    hf_endpoint: str = "https://huggingface.co"
    modelscope_endpoint: str = "https://www.modelscope.cn"
    download_timeout_s: float = 60.0
    # Model cache: Immich unloads after MACHINE_LEARNING_MODEL_TTL seconds idle (0 = never).
    model_ttl_s: float = 300.0
    # Comma-separated "task:type:modelName" entries loaded at start-up.
    preload: str = ""
    # Inference concurrency
    request_threads: int = 0  # 0 = number of CPUs
    ort_intra_op_threads: int = 0  # 0 = onnxruntime default
    ort_inter_op_threads: int = 1
    # onnxruntime's CPU arena keeps the high-water mark of every session's concurrent runs for good;
    # without it, buffers go back to malloc after each run (docs/benchmarks.md, soak: -400 MiB).
    ort_cpu_memory_arena: bool = False
    ort_memory_pattern: bool = True
    # CPU priority of the inference threads (and onnxruntime's threads they start): a higher nice value
    # than the event loop's keeps /ping answered within milliseconds when inference saturates the CPUs.
    inference_nice: int = 10
    # glibc malloc, set by `serve` at start-up: at most this many arenas (each thread otherwise gets its own,
    # each keeping its freed memory), and blocks from this size up mmap'ed and returned to the system when
    # freed (a fixed threshold: glibc's default moves it up to 32 MiB). 0 = glibc's default.
    malloc_arena_max: int = 2
    malloc_mmap_threshold: int = 1024 * 1024
    ort_providers: str = ""  # e.g. "CUDAExecutionProvider,CPUExecutionProvider"; empty = best available
    # Input limits
    max_body_bytes: int = 64 * 1024 * 1024
    max_image_pixels: int = 100_000_000
    # Pixels of all images being decoded or worked on at once; more waits its turn (0 = max_image_pixels).
    max_pixels_in_flight: int = 0
    # A CLIP query reads only its first 52 tokens; longer text is refused before any work.
    max_text_bytes: int = 64 * 1024
    # HTTP server limits (uvicorn): connections answered at once (more get 503), and how long a client
    # may take to send its request headers and, between two reads, its body.
    max_connections: int = 256
    request_header_timeout_s: float = 10.0
    request_body_idle_timeout_s: float = 30.0
    # OCR
    # Measured best on shared/data/ocr (docs/ocr.md); ships in the rapidocr wheel, so it works offline.
    ocr_default_model: str = "PP-OCRv6_small"
    ocr_use_angle_classifier: bool = False
    # Immich's MACHINE_LEARNING_MAX_BATCH_SIZE__OCR (text lines per recogniser call).
    ocr_rec_batch_size: int = 6
    # Logging
    log_level: str = "INFO"
    # Gateway (plugin_service/gateway, docs/gateway.md). No upstreams = a plain local ML server.
    # upstreams: "gpu=http://10.0.0.5:3003,http://10.0.0.6:3003;immich=http://immich-ml:3003"
    upstreams: str = ""
    # routes, first match wins: "facial-recognition=gpu;clip:ViT-B-16__openai=local>chinese-clip-vit-base-patch16"
    routes: str = ""
    gateway_config: str = ""  # path to a .toml/.json routing file (same things, more detail)
    upstream_timeout_s: float = 120.0  # per attempt; Immich itself sets none on /predict
    health_interval_s: float = 5.0  # GET /ping on every upstream (0 = off)
    client_allow: str = ""  # client networks allowed, e.g. "127.0.0.1/32,10.0.0.0/8"; empty = any
    shared_secret: str = ""  # Bearer/X-Api-Key/api-key header, Basic password, or a /<secret>/ URL prefix
    # Faces (plugin_service/engines/faces, docs/faces.md). A folder holding packs already on disk:
    # <dir>/<pack>/ in InsightFace's zip layout or Immich's, or an Immich ML cache (<dir>/facial-recognition/<pack>/).
    face_pack_dir: str = ""
    face_detection_size: int = 640  # SCRFD input (Immich and insightface: 640)
    # MT Photos AI API (plugin_service/mtphotos, docs/mtphotos.md). Empty key = the API refuses every request.
    mt_photos_api_key: str = ""
    mt_photos_face_model: str = "buffalo_l"
    mt_photos_face_min_score: float = 0.65  # mt-photos-insightface-unofficial's DETECTION_THRESH
    mt_photos_clip_model: str = "chinese-clip-vit-base-patch16"  # what mt-photos-ai runs (cn-clip ViT-B-16, 512-d)
    mt_photos_max_side: int = 10000  # the reference refuses images wider or taller than this

    # Chinese-CLIP (docs/clip.md). Aliases let an unpatched Immich ask for an allow-listed name of the
    # same dimension, e.g. "ViT-B-16__openai=chinese-clip-vit-base-patch16".
    clip_aliases: str = ""
    clip_precision: str = "fp32"  # fp32 | int8 | fp16 (quantised files made by `plugin-service clip export`)

    @property
    def effective_request_threads(self) -> int:
        return self.request_threads or max(os.cpu_count() or 1, 1)

    @property
    def effective_pixels_in_flight(self) -> int:
        return self.max_pixels_in_flight or self.max_image_pixels


# Immich ML variable names that mean the same thing as ours.
_IMMICH_FALLBACKS = {
    "model_ttl_s": "MACHINE_LEARNING_MODEL_TTL",
    "request_threads": "MACHINE_LEARNING_REQUEST_THREADS",
    "hf_endpoint": "HF_ENDPOINT",
    "port": "IMMICH_PORT",
    "ocr_rec_batch_size": "MACHINE_LEARNING_MAX_BATCH_SIZE__OCR",
}


_IMMICH_PRELOAD_PREFIX = "MACHINE_LEARNING_PRELOAD__"


def _immich_preload(env: Mapping[str, str]) -> str:
    """Immich's ``MACHINE_LEARNING_PRELOAD__OCR__DETECTION=PP-OCRv5_mobile`` style, as our ``task:type:name`` list."""
    items = []
    for key, value in sorted(env.items()):
        if key.startswith(_IMMICH_PRELOAD_PREFIX) and value.strip():
            task, _, model_type = key[len(_IMMICH_PRELOAD_PREFIX) :].lower().partition("__")
            items.append(f"{task.replace('_', '-')}:{model_type}:{value.strip()}")
    return ",".join(items)


def load_settings(env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Build settings from ``env`` (default: the process environment) plus overrides."""
    env = os.environ if env is None else env
    raw: dict[str, object] = {}
    for name in Settings.__struct_fields__:
        value = env.get(ENV_PREFIX + name.upper())
        if value is None and name in _IMMICH_FALLBACKS:
            value = env.get(_IMMICH_FALLBACKS[name])
        if value is not None:
            raw[name] = value
    if "preload" not in raw:
        raw["preload"] = _immich_preload(env)
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        # strict=False lets "3003" become 3003 and "true" become True.
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ValueError(f"invalid configuration: {exc}") from exc
