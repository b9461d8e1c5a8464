"""moto's standalone S3 server on a loopback port, shared by every test that needs a bucket.

Import the fixture into a test module (``from tests.s3_fixtures import moto_endpoint``).
"""

from __future__ import annotations

from typing import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

BUCKET = "fieldsync-photos"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3_client(endpoint).create_bucket(Bucket=BUCKET)
    yield endpoint
    server.stop()


def s3_client(endpoint: str):
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
