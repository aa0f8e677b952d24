import io

import pytest
from PIL import Image

from plugin_service.app import create_app
from plugin_service.config import load_settings
from tests.gateway.servers import StandIn, serve_in_thread

FACES = (
    '{"facial-recognition":{"detection":{"modelName":"buffalo_l","options":{"minScore":0.7}},"recognition":{"modelName":'
    '"buffalo_l"}}}'
)
CLIP_VISUAL = '{"clip":{"visual":{"modelName":"ViT-B-32__openai"}}}'
OCR = (
    '{"ocr":{"detection":{"modelName":"PP-OCRv5_mobile","options":{"minScore":0.5,"maxResolution":736}},"recognition":'
    '{"modelName":"PP-OCRv5_mobile","options":{"minScore":0.8}}}}'
)


def png(width: int = 64, height: int = 48, seed: int = 0) -> bytes:
    """A small distinct image per seed (the stand-in's answers depend on the bytes)."""
    image = Image.new("RGB", (width, height), ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    image.putpixel((seed % width, (seed // width) % height), (255, 255, 255))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def image_request(entries: str, image: bytes) -> dict:
    return {"data": {"entries": entries}, "files": {"image": ("blob", image, "application/octet-stream")}}


@pytest.fixture(scope="module")
def standins():
    a, b = StandIn("a").start(), StandIn("b").start()
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture
def fresh(standins):
    for s in standins:
        s.reset()
    return standins


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("models"))


@pytest.fixture
def gateway(model_dir):
    """``gateway(**settings)`` starts a gateway on a loopback port and returns its URL."""
    with __import__("contextlib").ExitStack() as stack:

        def start(**overrides):
            overrides = {"offline": True, "model_dir": model_dir, "health_interval_s": 0.3, **overrides}
            settings = load_settings({}, **overrides)
            app = create_app(settings)
            return stack.enter_context(serve_in_thread(app)), app

        yield start
