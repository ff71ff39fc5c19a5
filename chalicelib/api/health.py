"""Liveness, the OpenAPI document and its browsable page (with the files the page loads)."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import ASSET_CACHE, META_CACHE, endpoint
from chalicelib.api.models import Out
from chalicelib.api.openapi import ASSETS, DOCS_HEADERS, asset, docs_page, document

bp = Blueprint(__name__)


class Health(Out):
    status: str


@endpoint(bp, "/health", summary="Liveness", response=Health, tags=("meta",))
def health(ctx) -> Health:
    return Health(status="ok")


@endpoint(bp, "/openapi.json", summary="The OpenAPI 3.1 description of this API", cache=META_CACHE, tags=("meta",))
def openapi_json(ctx) -> Response:
    return Response(body=document(), status_code=200, headers={"Content-Type": "application/json"})


@endpoint(bp, "/docs", summary="Browsable API documentation: try requests with a bearer token",
          content_type="text/html", cache=META_CACHE, tags=("meta",))
def docs(ctx) -> Response:
    return Response(body=docs_page(), status_code=200, headers=DOCS_HEADERS)


def _asset_route(name: str, content_type: str) -> None:
    def docs_asset(ctx) -> Response:
        return Response(body=asset(name), status_code=200,
                        headers={"Content-Type": f"{content_type}; charset=utf-8", "X-Content-Type-Options": "nosniff"})

    docs_asset.__name__ = "docs_" + name.replace("-", "_").replace(".", "_")
    endpoint(bp, f"/docs/{name}", summary=f"{name}: a file the documentation page loads", content_type=content_type,
             cache=ASSET_CACHE, tags=("meta",))(docs_asset)


for _name, _content_type in ASSETS.items():
    _asset_route(_name, _content_type)
