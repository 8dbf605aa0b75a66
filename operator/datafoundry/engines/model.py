"""Where the generator's model weights are: `generator.model` resolved to what vLLM loads.

- an absolute path: used as is, and must exist;
- `pvc://claim/path`: the operator mounts the claim read-only at /models/<claim> and tells the worker
  where ($DATAFOUNDRY_MODEL_CLAIM_DIR); the model is <that dir>/<path>;
- `s3://bucket/prefix`: every object under the prefix is downloaded into a folder of the model cache
  ($DATAFOUNDRY_MODEL_CACHE: `generator.modelCache`, else the pod's /tmp), see `download_model`;
- anything else is a Hugging Face id, loaded by vLLM from its cache or the Hub ($HF_ENDPOINT, $HF_TOKEN).

The S3 download streams each object to disk with boto3's transfer manager (ranged GETs in parallel
for large objects, a bounded queue of small buffers: memory does not grow with the file), and is:
- atomic: an object is downloaded to a hidden temporary name beside its final one, checked, and only
  then renamed, so a file under its final name is always complete;
- checksummed: the file's size must equal the object's; its MD5 must equal the ETag of an object
  uploaded in one part (not for SSE-KMS/SSE-C objects, whose ETags are not MD5s), and its SHA-256 the
  object's full-object `x-amz-checksum-sha256` when the store keeps one. A multipart upload without
  such a checksum is checked by size only (its ETag is an MD5 of part MD5s, whose part size is unknown);
- resumable: beside each file a record (`.datafoundry/<file>.json`: key, size, ETag, SHA-256) is written
  after the file is in place. A later run (a retried pod, the next shard or round with a shared cache)
  keeps a file whose size and ETag match the object's and its record, without downloading or
  re-reading it, and downloads only the rest. An object changed in the store (new ETag) is downloaded
  again; a file whose object is gone is removed. Temporary files a killed pod left behind are removed
  once nothing has written to them for `STALE_PART_SECONDS`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from datafoundry.pipeline.contract import DEFAULT_MODEL_CACHE, ENV_MODEL_CACHE, ENV_MODEL_CLAIM_DIR, BadInput
from datafoundry.storage import split_uri

log = logging.getLogger(__name__)

#: Where the operator mounts a pvc:// model's claim (`<root>/<claim>`), when $DATAFOUNDRY_MODEL_CLAIM_DIR is unset.
CLAIM_MOUNT_ROOT = "/models"
#: Per-file records of what was downloaded, inside each model's folder.
RECORDS_DIR = ".datafoundry"
PART_MARK = ".part-"
STALE_PART_SECONDS = 600
MiB = 1024 * 1024
#: Objects above this size are fetched as parallel ranged GETs of `CHUNK_SIZE`.
MULTIPART_THRESHOLD = 64 * MiB
CHUNK_SIZE = 32 * MiB
MAX_CONCURRENCY = 8
#: Hashing reads the file in blocks of this size.
HASH_BLOCK = 4 * MiB


class ModelDownloadError(RuntimeError):
    """A downloaded object does not match the store's size or checksum (a retried pod tries again)."""


def resolve_model(model: str, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    if model.startswith("/"):
        return _local(model, model)
    if model.startswith("pvc://"):
        claim, _, path = model[len("pvc://"):].partition("/")
        base = env.get(ENV_MODEL_CLAIM_DIR) or f"{CLAIM_MOUNT_ROOT}/{claim}"
        parts = _safe_parts(path, f"generator.model {model}")
        return _local(model, str(Path(base, *parts)))
    if model.startswith("s3://"):
        cache = Path(env.get(ENV_MODEL_CACHE) or DEFAULT_MODEL_CACHE)
        return str(download_model(model, cache, env).path)
    return model


def _local(ref: str, path: str) -> str:
    if not Path(path).exists():
        raise BadInput(f"generator.model {ref}: {path} does not exist")
    return path


def _safe_parts(path: str, what: str) -> list[str]:
    """The segments of a relative path that stays inside its root (no `..`, no empty or `.` segments)."""
    parts = [p for p in PurePosixPath(path).parts if p not in ("/", ".")]
    if ".." in parts:
        raise BadInput(f"{what}: must not contain a '..' path segment")
    return parts


@dataclass(frozen=True)
class RemoteObject:
    key: str
    rel: str  # the path below the model's prefix
    size: int
    etag: str


@dataclass
class DownloadReport:
    path: Path
    files: int = 0
    downloaded: int = 0
    reused: int = 0
    bytes_downloaded: int = 0
    removed: int = 0


def model_dir(uri: str, cache: Path) -> Path:
    """The folder of an s3:// model in a cache: one per URI, so jobs naming the same model share it."""
    return cache / hashlib.sha256(uri.rstrip("/").encode()).hexdigest()[:16]


def download_model(uri: str, cache: Path, env: Mapping[str, str]) -> DownloadReport:
    """Mirror every object under an s3:// prefix into `model_dir(uri, cache)` (see the module docstring)."""
    from datafoundry.storage.s3 import S3Store

    _, bucket, prefix = split_uri(uri)
    store = S3Store(bucket, "", env)
    listing_prefix = f"{prefix}/" if prefix else ""
    objects = _list(store, listing_prefix, uri)
    target = model_dir(uri, cache)
    report = DownloadReport(path=target, files=len(objects))
    target.mkdir(parents=True, exist_ok=True)
    _remove_stale(target, {o.rel for o in objects}, report)
    for obj in objects:
        dest = target / obj.rel
        record = _record_path(target, obj.rel)
        if complete(dest, record, obj):
            report.reused += 1
            continue
        _fetch(store, bucket, obj, dest, record)
        report.downloaded += 1
        report.bytes_downloaded += obj.size
    log.info("model %s in %s: %d files, %d downloaded (%d bytes), %d already complete, %d removed",
             uri, target, report.files, report.downloaded, report.bytes_downloaded, report.reused, report.removed)
    return report


def _list(store: Any, prefix: str, uri: str) -> list[RemoteObject]:
    out = []
    kwargs: dict[str, Any] = {"Bucket": store.bucket, "Prefix": prefix}
    while True:
        page = store._call("list", lambda: store.client.list_objects_v2(**kwargs))
        for item in page.get("Contents", []):
            key = item["Key"]
            rel = key[len(prefix):]
            if not rel or rel.endswith("/"):
                continue  # the prefix itself, or a "folder" marker
            parts = _safe_parts(rel, f"generator.model {uri}: object {key}")
            if not parts or parts[0] == RECORDS_DIR or PART_MARK in parts[-1]:
                raise BadInput(f"generator.model {uri}: object {key} has a name this cache uses for itself")
            out.append(RemoteObject(key, "/".join(parts), int(item["Size"]), str(item["ETag"]).strip('"')))
        if not page.get("IsTruncated"):
            break
        kwargs["ContinuationToken"] = page["NextContinuationToken"]
    if not out:
        raise BadInput(f"generator.model {uri}: no objects under this prefix")
    return out


def _record_path(target: Path, rel: str) -> Path:
    return target / RECORDS_DIR / f"{rel}.json"


def complete(dest: Path, record: Path, obj: RemoteObject) -> bool:
    """The file is in place (it was renamed there only after its checks) and is this version of the object."""
    try:
        if not dest.is_file() or dest.stat().st_size != obj.size:
            return False
        saved = json.loads(record.read_text())
    except (OSError, ValueError):
        return False
    return bool(saved.get("size") == obj.size and saved.get("etag") == obj.etag and saved.get("sha256"))


def _remove_stale(target: Path, wanted: set[str], report: DownloadReport) -> None:
    """Files whose object is gone, and temporary files nobody has written to for a while."""
    now = time.time()
    for path in sorted(target.rglob("*")):
        if not path.is_file():
            continue
        rel = path.relative_to(target).as_posix()
        try:
            if PART_MARK in path.name:
                if now - path.stat().st_mtime > STALE_PART_SECONDS:
                    path.unlink()
                continue
            if rel.startswith(RECORDS_DIR + "/"):
                if rel[len(RECORDS_DIR) + 1:].removesuffix(".json") not in wanted:
                    path.unlink()
                continue
            if rel not in wanted:
                path.unlink()
                report.removed += 1
        except FileNotFoundError:
            pass  # another pod sharing the cache removed it first


def transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=CHUNK_SIZE,
                          max_concurrency=MAX_CONCURRENCY, use_threads=True)


def _fetch(store: Any, bucket: str, obj: RemoteObject, dest: Path, record: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f".{dest.name}{PART_MARK}{uuid.uuid4().hex[:12]}")
    config = transfer_config()
    try:
        head = store._call("get", lambda: store.client.head_object(Bucket=bucket, Key=obj.key, ChecksumMode="ENABLED"))
        store._call("get", lambda: store.client.download_file(bucket, obj.key, str(part), Config=config))
        sha256, md5 = file_digests(part)
        verify(obj, head, part.stat().st_size, sha256, md5)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    record.parent.mkdir(parents=True, exist_ok=True)
    tmp = record.with_name(f".{record.name}{PART_MARK}{uuid.uuid4().hex[:12]}")
    tmp.write_text(json.dumps({"key": obj.key, "size": obj.size, "etag": obj.etag, "sha256": sha256}))
    os.replace(tmp, record)


def file_digests(path: Path) -> tuple[str, str]:
    """(sha256 hex, md5 hex) of a file, read in blocks."""
    sha, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while block := f.read(HASH_BLOCK):
            sha.update(block)
            md5.update(block)
    return sha.hexdigest(), md5.hexdigest()


def verify(obj: RemoteObject, head: Mapping[str, Any], size: int, sha256: str, md5: str) -> None:
    """ModelDownloadError when the downloaded bytes differ from what the store says the object is."""
    if size != obj.size:
        raise ModelDownloadError(f"{obj.key}: downloaded {size} bytes, the object has {obj.size}")
    etag = str(head.get("ETag") or obj.etag).strip('"')
    if etag != obj.etag:
        raise ModelDownloadError(f"{obj.key}: the object changed while it was downloaded (ETag {obj.etag} -> {etag})")
    encrypted = head.get("SSECustomerAlgorithm") or str(head.get("ServerSideEncryption") or "").startswith("aws:kms")
    if "-" not in etag and len(etag) == 32 and not encrypted and etag.lower() != md5:
        raise ModelDownloadError(f"{obj.key}: MD5 {md5} of the downloaded file differs from the ETag {etag}")
    checksum = head.get("ChecksumSHA256")
    if checksum and "-" not in str(checksum) and head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT":
        try:
            expected = base64.b64decode(str(checksum)).hex()
        except (binascii.Error, ValueError):
            return
        if expected != sha256:
            raise ModelDownloadError(f"{obj.key}: SHA-256 {sha256} of the downloaded file differs from the "
                                     f"object's checksum {expected}")
