"""Chinese text rendered at test time with a real CJK font, read back exactly.

Covers what photos in a Chinese library contain: receipts, shop signs, mixed
Chinese/English/digits, small text, slightly rotated and vertical text, light
text on a dark background.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from plugin_service.engines.ocr import OcrOptions, get_ocr_model
from tests.ocr.fonts import render_lines

MODELS = ["PP-OCRv6_small", "PP-OCRv5_mobile"]


def read(ctx, model_name, image: Image.Image, **options) -> list[str]:
    model = get_ocr_model(ctx, model_name)
    return [line.text for line in model.read(np.asarray(image.convert("RGB")), OcrOptions(**options))]


def squeeze(lines: list[str]) -> list[str]:
    """Drop spaces: a CJK font's narrow space between 奶 and 2 is not reliably visible, and search ignores it."""
    return [line.replace(" ", "") for line in lines]


@pytest.mark.parametrize("model_name", MODELS)
def test_receipt(ocr_ctx, model_name):
    lines = ["超市购物小票", "牛奶 2盒 25.80元", "面包 1个 8.50元", "合计 34.30元"]
    assert squeeze(read(ocr_ctx, model_name, render_lines(lines))) == squeeze(lines)


@pytest.mark.parametrize("model_name", MODELS)
def test_mixed_chinese_english_digits(ocr_ctx, model_name):
    lines = ["营业时间 9:00-21:00", "WiFi密码 abc12345", "中关村大街27号"]
    assert squeeze(read(ocr_ctx, model_name, render_lines(lines))) == squeeze(lines)


def test_shop_sign_light_on_dark(ocr_ctx):
    lines = ["老北京炸酱面"]
    image = render_lines(lines, size=72, fg="white", bg=(150, 20, 20))
    assert read(ocr_ctx, "PP-OCRv6_small", image) == lines


def test_small_text(ocr_ctx):
    lines = ["发票代码 144031900110", "开票日期 2024年05月18日"]
    assert squeeze(read(ocr_ctx, "PP-OCRv6_small", render_lines(lines, size=16, padding=10, spacing=8))) == squeeze(
        lines
    )


def test_slightly_rotated_photo_of_text(ocr_ctx):
    lines = ["欢迎光临", "请勿吸烟"]
    image = render_lines(lines, size=48).rotate(5, expand=True, fillcolor="white")
    assert read(ocr_ctx, "PP-OCRv6_small", image) == lines


def test_vertical_text_column(ocr_ctx):
    # A column of characters (a traditional shop sign) is cropped tall and turned to horizontal.
    image = render_lines(list("福满楼饭庄"), size=56, spacing=4)
    assert read(ocr_ctx, "PP-OCRv6_small", image) in (["福满楼饭庄"], list("福满楼饭庄"))


def test_large_photo_is_downscaled_not_upscaled(ocr_ctx):
    lines = ["停车场入口"]
    image = render_lines(lines, size=160, padding=400)
    assert image.height > 736
    assert read(ocr_ctx, "PP-OCRv6_small", image, max_resolution=736) == lines


def test_blank_and_tiny_images_have_no_text(ocr_ctx):
    assert read(ocr_ctx, "PP-OCRv6_small", Image.new("RGB", (800, 600), "white")) == []
    assert read(ocr_ctx, "PP-OCRv6_small", Image.new("RGB", (20, 20), "black")) == []


def test_recognition_threshold_is_strict(ocr_ctx):
    image = render_lines(["测试文字"])
    model = get_ocr_model(ocr_ctx, "PP-OCRv6_small")
    [line] = model.read(np.asarray(image), OcrOptions(rec_min_score=0.0))
    # A line scoring exactly the threshold is dropped: Immich keeps textScore > minScore.
    assert model.read(np.asarray(image), OcrOptions(rec_min_score=line.text_score)) == []
