"""What a gunicorn worker imports: the libraries that only some requests or commands use stay out
of its memory until one needs them (each worker paid about 10 MiB for them)."""
import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# library -> what loads it when it is needed
LEFT_OUT = {
    "alembic": "flask db",
    "flask_migrate": "flask db",
    "apispec": "/api/openapi.json",
    "boto3": "STORAGE_BACKEND=s3",
    "botocore": "STORAGE_BACKEND=s3",
    "redis": "RATELIMIT_STORAGE_URI=redis://",
    "re2": "keys with a pattern",
    "phonenumbers": "keys of type phone",
    "sqlalchemy.dialects.postgresql": "a PostgreSQL DATABASE_URL",
    "psycopg": "a PostgreSQL DATABASE_URL",  # 9 MiB with its libpq, more than any other here
}


def test_a_worker_on_sqlite_and_local_files_imports_none_of_the_optional_libraries(tmp_path):
    # a fresh interpreter, as a worker starts: create_app(), then a request
    script = (
        "import json, sys\n"
        "from customerdata import create_app\n"
        "app = create_app()\n"
        "app.test_client().get('/healthz')\n"
        f"print(json.dumps([name for name in {sorted(LEFT_OUT)!r} if name in sys.modules]))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "INSTANCE_PATH": str(tmp_path / "instance"),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == [], {name: LEFT_OUT[name] for name in loaded}
