"""Liveness, the OpenAPI document and its browsable page."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import endpoint
from chalicelib.api.models import Out

bp = Blueprint(__name__)


class Health(Out):
    status: str


@endpoint(bp, "/health", summary="Liveness", response=Health, tags=("meta",))
def health(ctx) -> Health:
    return Health(status="ok")


@endpoint(bp, "/openapi.json", summary="The OpenAPI 3.1 description of this API", tags=("meta",))
def openapi_json(ctx) -> Response:
    from chalicelib.api.openapi import document

    return Response(body=document(), status_code=200, headers={"Content-Type": "application/json"})


@endpoint(bp, "/docs", summary="Browsable API documentation", content_type="text/html", tags=("meta",))
def docs(ctx) -> Response:
    from chalicelib.api.openapi import docs_page

    return Response(body=docs_page(), status_code=200, headers={"Content-Type": "text/html; charset=utf-8"})
