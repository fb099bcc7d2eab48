"""Storage-neutral access to a wharfd's server-side files, so the same
interop tests run on the local filesystem and on S3.

`Wharfd.home` and `Wharfd.pub` are a `pathlib.Path` with local storage and
an `S3Path` with WHARF_TEST_STORAGE=s3: both answer `/`, `read_bytes`,
`write_bytes`, `exists`, `is_dir`, `mkdir` and `parent`. The functions
below cover what `os` does on a real path (listdir, utime) and work on both.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

# The name S3 uses for empty-directory markers: hidden from listings, like
# the local backend's upload temporaries (PART_PREFIX).
S3_MARKER = ".wharf-dir"


class S3Path:
    """A server-side path in a bucket, as a key under `prefix`."""

    def __init__(self, client, bucket: str, key: str):
        self.client, self.bucket, self.key = client, bucket, key.strip("/")

    def __truediv__(self, name: str) -> "S3Path":
        return S3Path(self.client, self.bucket, f"{self.key}/{name}")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    __repr__ = __str__

    @property
    def name(self) -> str:
        return PurePosixPath(self.key).name

    @property
    def parent(self) -> "S3Path":
        return S3Path(self.client, self.bucket, str(PurePosixPath(self.key).parent))

    def read_bytes(self) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.key)["Body"].read()

    def write_bytes(self, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.key, Body=data)

    def _head(self):
        try:
            return self.client.head_object(Bucket=self.bucket, Key=self.key)
        except self.client.exceptions.ClientError as e:
            if e.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def is_file(self) -> bool:
        return self._head() is not None

    def is_dir(self) -> bool:
        r = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self.key + "/", MaxKeys=1)
        return r.get("KeyCount", 0) > 0

    def exists(self) -> bool:
        return self.is_file() or self.is_dir()

    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Directories are key prefixes: nothing to make."""

    def keys(self) -> list[str]:
        """Every key under this directory (paged)."""
        out = []
        pages = self.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=self.bucket, Prefix=self.key + "/"):
            out += [o["Key"] for o in page.get("Contents", [])]
        return out

    def mtime(self) -> int:
        head = self._head()
        assert head is not None, f"{self} does not exist"
        return int(head["LastModified"].timestamp())


def listdir(path) -> list[str]:
    """Names directly in a server-side directory (hidden ones left out)."""
    if isinstance(path, S3Path):
        names = set()
        for key in path.keys():
            first = key[len(path.key) + 1:].split("/", 1)[0]
            if first and first != S3_MARKER:
                names.add(first)
        return sorted(names)
    return os.listdir(path)


def set_mtime(path, when: int) -> int:
    """Sets a file's modification time where the storage allows it, and
    returns the time the server will report (an object store keeps the
    time the object was written, whatever a client wants)."""
    if isinstance(path, S3Path):
        return path.mtime()
    os.utime(path, (when, when))
    return when


def stored_bytes(root) -> int:
    """Bytes of the stored files under a server-side directory, as a
    recount sees them: regular files but upload temporaries locally, every
    object but directory markers on S3."""
    if isinstance(root, S3Path):
        total = 0
        pages = root.client.get_paginator("list_objects_v2")
        for page in pages.paginate(Bucket=root.bucket, Prefix=root.key + "/"):
            total += sum(o["Size"] for o in page.get("Contents", [])
                         if PurePosixPath(o["Key"]).name != S3_MARKER)
        return total
    from wharf_helpers import PART_PREFIX
    total = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if name.startswith(PART_PREFIX):
                continue
            st = os.lstat(os.path.join(dirpath, name))
            if (st.st_mode & 0o170000) == 0o100000:
                total += st.st_size
    return total


def pending_uploads(path) -> list[str]:
    """Unfinished uploads under a server-side directory: temporary files
    locally, multipart uploads not yet completed or aborted on S3."""
    if isinstance(path, S3Path):
        r = path.client.list_multipart_uploads(Bucket=path.bucket, Prefix=path.key + "/")
        return [u["Key"] for u in r.get("Uploads", [])]
    from wharf_helpers import part_files
    return part_files(Path(path))


def hidden_name(path) -> str:
    """A name the storage reserves and hides from listings."""
    from wharf_helpers import PART_PREFIX
    return S3_MARKER if isinstance(path, S3Path) else f"{PART_PREFIX}leftover"
