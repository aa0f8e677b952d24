import pytest

from plugin_service.config import load_settings
from plugin_service.context import ServiceContext


@pytest.fixture(scope="session")
def ocr_ctx(tmp_path_factory) -> ServiceContext:
    """Offline context: only models shipped in installed wheels are available."""
    settings = load_settings({}, offline=True, model_dir=str(tmp_path_factory.mktemp("models")))
    return ServiceContext.from_settings(settings)
