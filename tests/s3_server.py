"""An S3-compatible server for tests that talk to it over real HTTP: moto's standalone server.

    from s3_server import s3_server      # tests/ is on sys.path under pytest's "prepend" mode

    with s3_server() as server:          # python -m moto.server on 127.0.0.1, a free port
        client = server.client()
        client.create_bucket(Bucket="files")

The server keeps everything in memory and is stopped (SIGTERM, then SIGKILL) on exit. `ENV` is
what the app and boto3 need to reach it: fake credentials, a region, no instance-metadata lookups
and no proxy for 127.0.0.1. Every wait is bounded.
"""
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from live_server import answers, stop  # tests/ is on sys.path under pytest

START_TIMEOUT = 30
PROBE = "/moto-api/"
REGION = "us-east-1"

ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_EC2_METADATA_DISABLED": "true",   # never ask 169.254.169.254 for credentials
    "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
}
UNSET = ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3")


class S3ServerError(RuntimeError):
    """moto's server could not be started; the message carries its log."""


class S3Server:
    def __init__(self, process, endpoint_url, log_path):
        self.process, self.endpoint_url, self.log_path = process, endpoint_url, log_path

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.session.Session(aws_access_key_id=ENV["AWS_ACCESS_KEY_ID"],
                                     aws_secret_access_key=ENV["AWS_SECRET_ACCESS_KEY"]).client(
            "s3", endpoint_url=self.endpoint_url, region_name=REGION,
            config=Config(s3={"addressing_style": "path"}, proxies={}))

    def log(self):
        return Path(self.log_path).read_text(errors="replace")


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def s3_server():
    """Start `python -m moto.server` on 127.0.0.1; yields an S3Server, stops it afterwards."""
    log_dir = tempfile.mkdtemp(prefix="customerdata-moto-")
    log_path = os.path.join(log_dir, "moto.log")
    env = {name: value for name, value in os.environ.items() if name not in UNSET} | ENV
    for attempt in range(3):  # the free port may be taken between the probe and the bind
        port = _free_port()
        with open(log_path, "ab") as log:
            command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
            process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
        endpoint = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + START_TIMEOUT
        while process.poll() is None and time.monotonic() < deadline and not answers(endpoint + PROBE):
            time.sleep(0.1)
        if process.poll() is None and answers(endpoint + PROBE):
            break
        stop(process)
    else:
        log = Path(log_path).read_text(errors="replace")[-3000:]
        raise S3ServerError(f"moto's server did not start:\n{log}")
    try:
        yield S3Server(process, endpoint, log_path)
    finally:
        stop(process)
        with contextlib.suppress(OSError):
            os.unlink(log_path)
            os.rmdir(log_dir)
