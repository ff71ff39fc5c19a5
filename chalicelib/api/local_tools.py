"""local_tools routes."""

from chalice import Blueprint

bp = Blueprint(__name__)
