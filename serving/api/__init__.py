"""The ShopLens HTTP API (Flask application factory); gunicorn runs ``serving.api:create_app()``."""

from __future__ import annotations

from flask import Flask

from serving.api.cache import AnswerCache
from serving.api.config import Settings
from serving.api.errors import register_error_handlers
from serving.api.inference import TorchServeClient


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__)
    app.config.update(SETTINGS=settings, MAX_CONTENT_LENGTH=settings.max_upload_bytes * max(1, settings.max_batch),
                      INFERENCE=TorchServeClient(settings),
                      CACHE=AnswerCache(settings.redis_url, settings.cache_ttl, settings.url_ttl))
    from serving.api import classify, health, metrics, openapi

    for module in (metrics, classify, health, openapi):
        app.register_blueprint(module.blueprint)
    register_error_handlers(app)
    return app
