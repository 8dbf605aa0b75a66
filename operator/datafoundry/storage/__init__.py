"""Object storage behind one small interface: S3 (boto3) and file:// for local runs."""

from datafoundry.storage.base import ObjectStore, open_store, split_uri

__all__ = ["ObjectStore", "open_store", "split_uri"]
