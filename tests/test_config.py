"""Settings come from PLUGIN_SERVICE_* variables, with Immich ML's names as fallbacks."""

import pytest

from plugin_service.config import load_settings


def test_defaults_are_safe_for_a_fresh_machine():
    settings = load_settings({})
    assert (settings.host, settings.port) == ("127.0.0.1", 3003)
    assert settings.model_ttl_s == 300 and settings.offline is False


def test_immich_variables_are_honoured():
    settings = load_settings(
        {
            "MACHINE_LEARNING_MODEL_TTL": "0",
            "MACHINE_LEARNING_REQUEST_THREADS": "3",
            "HF_ENDPOINT": "https://hf-mirror.com",
            "MACHINE_LEARNING_MAX_BATCH_SIZE__OCR": "12",
            "MACHINE_LEARNING_PRELOAD__OCR__RECOGNITION": "PP-OCRv5_mobile",
            "MACHINE_LEARNING_PRELOAD__CLIP__TEXTUAL": "chinese-clip-vit-base-patch16",
        }
    )
    assert settings.model_ttl_s == 0 and settings.effective_request_threads == 3
    assert settings.hf_endpoint == "https://hf-mirror.com" and settings.ocr_rec_batch_size == 12
    assert settings.preload == "clip:textual:chinese-clip-vit-base-patch16,ocr:recognition:PP-OCRv5_mobile"


def test_own_variables_win_over_immich_ones():
    settings = load_settings(
        {
            "PLUGIN_SERVICE_MODEL_TTL_S": "60",
            "MACHINE_LEARNING_MODEL_TTL": "0",
            "PLUGIN_SERVICE_PRELOAD": "",
            "MACHINE_LEARNING_PRELOAD__OCR__DETECTION": "x",
        }
    )
    assert settings.model_ttl_s == 60 and settings.preload == ""


@pytest.mark.parametrize(
    "env",
    [{"PLUGIN_SERVICE_PORT": "eighty"}, {"PLUGIN_SERVICE_OFFLINE": "maybe"}, {"PLUGIN_SERVICE_MODEL_TTL_S": "soon"}],
)
def test_bad_values_are_refused_with_the_field_named(env):
    with pytest.raises(ValueError, match="invalid configuration"):
        load_settings(env)
