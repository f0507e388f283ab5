"""The ShopLens HTTP API (Flask application factory); gunicorn runs ``serving.api:create_app()``.

Like flaskr's ``create_app(test_config)``, the factory takes what it needs as arguments:
settings (default: from the environment) and its services, the TorchServe client, the
answer cache, the catalogue index and the corrections store (default: made from the
settings). Tests pass their own.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from serving.api import security
from serving.api.cache import AnswerCache
from serving.api.config import Settings
from serving.api.corrections import Corrections
from serving.api.errors import register_error_handlers
from serving.api.inference import TorchServeClient
from serving.api.inputs import enforce_body_limit, linger_after_refusal
from serving.api.services import Services
from serving.api.versions import DefaultVersion
from serving.index.live import LiveIndex
from shoplens.imaging import ImageLimits


def create_app(settings: Any = None, model: TorchServeClient | None = None,
               cache: AnswerCache | None = None, catalogue: LiveIndex | None = None,
               corrections: Corrections | None = None) -> Flask:
    settings = settings or Settings()
    app = Flask(__name__)
    app.url_map.merge_slashes = False  # "/v1//review" is an unknown path (a JSON 404), not a redirect page
    model = model or TorchServeClient(settings)
    cache = cache or AnswerCache(settings.redis_url, settings.cache_ttl, settings.url_ttl)
    catalogue = catalogue or LiveIndex(settings.index_dir)
    corrections = corrections or Corrections(settings.database_url, settings.picture_store,
                                             ImageLimits(max_bytes=settings.max_upload_bytes))
    Services(settings, model, cache, DefaultVersion(model, cache), catalogue, corrections).install(app)
    app.before_request(enforce_body_limit)  # first: an oversized body is refused before anything reads it
    app.after_request(linger_after_refusal)
    security.init_app(app, settings)
    from serving.api import classify, feedback, health, metrics, models, openapi, review, similar

    for module in (metrics, classify, similar, models, feedback, review, health, openapi):
        app.register_blueprint(module.blueprint)
    app.register_blueprint(review.page)
    register_error_handlers(app)
    return app
