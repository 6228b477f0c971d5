"""What the storage layer refuses."""
from __future__ import annotations


class StorageError(Exception):
    """A storage operation was refused."""


class AlreadyExists(StorageError):
    """A merchant or device with that id exists already."""


class NotFound(StorageError):
    """A referenced row (e.g. the merchant of a new device) does not exist."""


class LimitExceeded(StorageError):
    """The merchant's daily cap would be exceeded: nothing was stored."""


class RefundRefused(StorageError):
    """The order cannot give this refund back; `code` is the device API's error code."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code
