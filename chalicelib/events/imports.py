"""imports event handlers."""

from chalice import Blueprint

bp = Blueprint(__name__)
