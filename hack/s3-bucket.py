#!/usr/bin/env python3
"""Create the test bed's bucket (idempotent). Usage: s3-bucket.py S3_ENV_FILE.

Exits non-zero while the S3 endpoint is not answering yet, so callers can poll it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
from botocore.config import Config


def main(env_file: str) -> int:
    env = dict(
        line.split("=", 1) for line in Path(env_file).read_text().splitlines() if "=" in line
    )
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env.get("AWS_DEFAULT_REGION", "us-east-1"),
        config=Config(retries={"max_attempts": 1}, connect_timeout=2, read_timeout=5),
    )
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if env["S3_BUCKET"] not in existing:
        s3.create_bucket(Bucket=env["S3_BUCKET"])
    s3.head_bucket(Bucket=env["S3_BUCKET"])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
