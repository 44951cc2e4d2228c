from flask import Blueprint

from ..openapi import responds
from . import service
from .schemas import HealthSchema, ReadinessSchema

bp = Blueprint("health", __name__)


@bp.get("/healthz")
@responds(200, HealthSchema)
def healthz():
    """The process is alive and answering."""
    return {"status": "ok"}


@bp.get("/readyz")
@responds(200, ReadinessSchema)
@responds(503, ReadinessSchema, description="Not ready: a dependency is unavailable.")
def readyz():
    """The database answers and the file store takes writes; 503 otherwise."""
    checks = service.readiness()
    ready = all(result == "ok" for result in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
