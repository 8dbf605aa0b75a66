"""Download an s3:// model with `datafoundry.engines.model.download_model` and print what it did,
with the process's peak resident memory before and after (for the memory bound of the streaming
download). Usage: model_download_probe.py S3_URI CACHE_DIR (S3 settings from the AWS_* variables)."""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path


def main() -> int:
    from datafoundry.engines.model import download_model, transfer_config
    from datafoundry.storage.s3 import S3Store

    env = dict(os.environ)
    # Everything a download needs loaded first (botocore's service model, s3transfer), so that the
    # peak below is the download's own.
    S3Store("warm-up", "", env).client.meta.service_model.operation_names  # noqa: B018
    transfer_config()
    # Reset the peak (the imports' own peak would otherwise hide the download's): Linux's
    # clear_refs "5" resets the resident set high-water mark that getrusage reports as ru_maxrss.
    Path("/proc/self/clear_refs").write_text("5")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    started = time.monotonic()
    report = download_model(sys.argv[1], Path(sys.argv[2]), env)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_kib": before, "after_kib": after, "seconds": round(time.monotonic() - started, 2),
                      "path": str(report.path), "files": report.files, "downloaded": report.downloaded,
                      "reused": report.reused, "bytes": report.bytes_downloaded, "removed": report.removed}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
