import pytest
from litestar.testing import TestClient

from plugin_service.app import create_app
from plugin_service.config import load_settings


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    settings = load_settings(
        {},
        offline=True,
        model_dir=str(tmp_path_factory.mktemp("models")),
        max_body_bytes=8 * 1024 * 1024,
        max_image_pixels=40_000_000,
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client
