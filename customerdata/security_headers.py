"""Headers every answer carries, and no-store on answers meant for one authenticated user."""

# The docs page (Swagger UI) loads its own scripts and styles from this origin and sets inline
# styles; nothing is ever loaded from elsewhere, and no page of this origin may be framed.
CONTENT_SECURITY_POLICY = ("default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                           "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'")

HEADERS = (
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "no-referrer"),
    ("Content-Security-Policy", CONTENT_SECURITY_POLICY),
)
NO_STORE = ("Cache-Control", "no-store")


def add_security_headers(environ, headers):
    """Complete a WSGI header list in place; a header the view set itself (a download's CSP) stays."""
    present = {name.lower() for name, _ in headers}
    headers.extend(header for header in HEADERS if header[0].lower() not in present)
    if "HTTP_AUTHORIZATION" in environ and environ.get("PATH_INFO", "").startswith("/api/"):
        if "cache-control" in present:
            headers[:] = [header for header in headers if header[0].lower() != "cache-control"]
        headers.append(NO_STORE)
