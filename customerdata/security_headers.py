"""Headers every answer carries, and no-store on answers meant for one authenticated user."""

# The docs page (Swagger UI) loads its own scripts and styles from this origin and sets inline
# styles; nothing is ever loaded from elsewhere, and no page of this origin may be framed.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                           "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'")

HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
}


def register_security_headers(app):
    from flask import request

    @app.after_request
    def add_security_headers(response):
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if "Authorization" in request.headers and request.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        return response
