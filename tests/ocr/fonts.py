"""Render text with a real CJK font for OCR tests (Debian fonts-noto-cjk / fonts-wqy-*)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

CJK_FONTS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


def cjk_font_path() -> str:
    for path in CJK_FONTS:
        if Path(path).exists():
            return path
    pytest.skip("no CJK font installed (apt-get install fonts-noto-cjk)")


def render_lines(
    lines: list[str], size: int = 40, padding: int = 30, spacing: int = 24, fg="black", bg="white"
) -> Image.Image:
    font = ImageFont.truetype(cjk_font_path(), size)
    widths = [font.getbbox(line)[2] for line in lines]
    height = padding * 2 + len(lines) * size + (len(lines) - 1) * spacing
    image = Image.new("RGB", (max(widths) + padding * 2, height), bg)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((padding, padding + i * (size + spacing)), line, font=font, fill=fg)
    return image
