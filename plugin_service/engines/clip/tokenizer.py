"""Chinese-CLIP's text tokenizer without torch.

cn_clip uses BERT's Chinese WordPiece (lower-casing, accents stripped, every
CJK character its own token) and ``[CLS] ids[:50] [SEP]`` zero-padded to 52.
Hugging Face ``tokenizers``' BertWordPiece with the same vocabulary gives
identical ids (golden tests against ``cn_clip.clip.tokenize``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tokenizers import BertWordPieceTokenizer

from plugin_service.engines.clip.architectures import CONTEXT_LENGTH

# The 21,128-token vocabulary of Chinese BERT / Chinese-CLIP (Apache-2.0), shipped as data.
VOCAB = Path(__file__).with_name("vocab.txt")


class ClipTokenizer:
    def __init__(self, vocab: Path = VOCAB, context_length: int = CONTEXT_LENGTH):
        self.context_length = context_length
        self._tokenizer = BertWordPieceTokenizer(str(vocab), lowercase=True, clean_text=True, handle_chinese_chars=True)
        self._tokenizer.enable_truncation(max_length=context_length)
        self._tokenizer.enable_padding(length=context_length, pad_id=0, pad_token="[PAD]")

    def __call__(self, texts: list[str]) -> np.ndarray:
        """int64 ids, shape (len(texts), context_length)."""
        encodings = self._tokenizer.encode_batch(list(texts))
        return np.array([e.ids for e in encodings], dtype=np.int64)
