import json

import numpy as np

from plugin_service.immich.embedding import embedding_string
from tests.protocol.contract import check_embedding_string


def test_embedding_string_is_a_compact_pgvector_literal_of_float32():
    raw = np.random.default_rng(0).standard_normal(512).astype(np.float32)
    vector = raw / np.linalg.norm(raw)
    text = embedding_string(vector)
    assert " " not in text and text.startswith("[") and text.endswith("]")
    floats = check_embedding_string(text, 512)
    assert np.allclose(np.array(floats, dtype=np.float32), vector, rtol=0, atol=0)
    assert abs(sum(v * v for v in floats) - 1) < 1e-5


def test_short_float32_text_not_float64_noise():
    assert embedding_string(np.array([0.1, -0.013126737], dtype=np.float32)) == "[0.1,-0.013126737]"


def test_zero_vector_is_written_as_zeros():
    assert json.loads(embedding_string(np.zeros(3))) == [0.0, 0.0, 0.0]
