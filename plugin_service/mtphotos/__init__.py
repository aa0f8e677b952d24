"""The MT Photos AI API (``mt-photos-ai`` and the unofficial InsightFace face API) over this service's engines.

Mount ``plugin_service.mtphotos.routes:router``; it reads the ``ServiceContext``
from ``app.state.ctx`` (and uses ``app.state.executors`` when present).
"""
