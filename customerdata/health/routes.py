from flask import Blueprint

from . import service

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """The process is alive and answering."""
    return {"status": "ok"}


@bp.get("/readyz")
def readyz():
    """The database answers and the file store takes writes; 503 otherwise."""
    checks = service.readiness()
    ready = all(result == "ok" for result in checks.values())
    return {"status": "ready" if ready else "not ready", "checks": checks}, 200 if ready else 503
