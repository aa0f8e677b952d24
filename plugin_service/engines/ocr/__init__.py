"""PP-OCR text detection and recognition (engine, catalogue, loader).  No HTTP in here."""

from plugin_service.engines.ocr.loader import get_ocr_model
from plugin_service.engines.ocr.model import OcrModel, OcrOptions, TextLine

__all__ = ["OcrModel", "OcrOptions", "TextLine", "get_ocr_model"]
