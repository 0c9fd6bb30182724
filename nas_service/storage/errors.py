"""Errors raised by every storage implementation (never a driver's own exception)."""

from __future__ import annotations


class StorageError(Exception):
    """Base class of storage errors; also raised for driver errors that have no better match."""


class StorageUnavailable(StorageError):
    """The database cannot be reached right now (connection refused or lost, server shutting down, locked).

    Transient: the same call may succeed later. The message is only ``database unavailable`` (no host, port or
    driver text, which could reach users); the driver's error is chained for the logs.
    """


class NotFoundError(StorageError):
    """The object does not exist (or is not visible to the caller)."""


class ConflictError(StorageError):
    """The operation conflicts with the object's current state (e.g. an illegal state transition)."""


class LeaseLostError(ConflictError):
    """A fenced write was refused: another dispatcher claimed the job since (its ``lease_epoch`` moved)."""


class IntegrityError(StorageError):
    """A database constraint refused the write (duplicate key, missing foreign key)."""


class SchemaOutOfDate(StorageError):
    """The database schema is not at the revision this code needs; the message names the command to run."""


class InvalidValueError(StorageError, ValueError):
    """The database refused a value (out of range, a NUL character in text, ...)."""
