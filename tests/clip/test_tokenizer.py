"""Our torch-free tokenizer gives cn_clip.clip.tokenize's ids exactly."""

from __future__ import annotations

import numpy as np
import pytest

from plugin_service.engines.clip.tokenizer import ClipTokenizer

GOLDEN = [
    "北京天安门广场的日出",
    "一只在草地上奔跑的小狗",
    "A dog running on the grass",
    "iPhone 15 Pro 拍摄的夜景 ISO3200",
    "春节放鞭炮🧨🎆",
    "Café naïve ÉCOLE",
    "ＡＢＣ１２３ 全角字符",
    "繁體中文的測試：臺灣",
    "",
    "   ",
    "发票代码 044031900111 金额￥1,280.00",
    "超长文本" * 30,
    "hello\tworld\nnew line",
]


def test_known_ids():
    ids = ClipTokenizer()(["北京天安门广场的日出"])[0]
    assert ids[:12].tolist() == [101, 1266, 776, 1921, 2128, 7305, 2408, 1767, 4638, 3189, 1139, 102]
    assert ids.shape == (52,) and not ids[12:].any()


@pytest.mark.parametrize("text", GOLDEN)
def test_matches_cn_clip(text):
    pytest.importorskip("torch", reason="the torch extra (torch, cn_clip) is not installed")
    from plugin_service.engines.clip.export import import_cn_clip

    import_cn_clip()
    from cn_clip.clip import tokenize

    expected = tokenize([text], context_length=52).numpy()
    assert np.array_equal(ClipTokenizer()([text]), expected)


def test_batch_shape_and_truncation():
    ids = ClipTokenizer()(["短", "长" * 100])
    assert ids.shape == (2, 52) and ids.dtype == np.int64
    assert ids[1, 0] == 101 and ids[1, 51] == 102  # [CLS] … [SEP] kept when truncated
