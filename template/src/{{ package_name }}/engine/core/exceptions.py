"""Errors raised by this package, all under one base class.

Catch ``ProjectError`` to handle every failure the package reports on purpose; anything else is a
bug. The hierarchy::

    ProjectError
    ├── ConfigError (ValueError)          bad config file, key, value or override
    ├── DataError (ValueError)            data that cannot be loaded or is malformed
    │   └── InputValidationError          inputs that do not fit a model's contract
    ├── ModelError (ValueError)           unknown model name or impossible model settings
    ├── CheckpointError
    │   ├── CheckpointNotFoundError (FileNotFoundError)
    │   └── CheckpointInvalidError (ValueError)   corrupt, incomplete or mismatched
    ├── PackageError                      model packages written by ``export``
    │   ├── PackageNotFoundError (FileNotFoundError)
    │   └── PackageInvalidError (ValueError)      tampered, incomplete or of an unknown schema
    ├── DeviceError (RuntimeError)        device asked for but not available
    ├── DistributedError (RuntimeError)   bad launch settings, or another rank died or stalled
    ├── StorageError (OSError)            a file cannot be written: disk full, read-only, denied
    ├── TrainingError (RuntimeError)      training cannot go on (for example a non-finite loss)
    │   └── RunInUseError                 another process is writing the same run folder
    └── RetryableError (RuntimeError)     transient: the same call may succeed later
        └── OutOfMemoryError              the device ran out of memory
"""

from __future__ import annotations

__all__ = [
    "CheckpointError",
    "CheckpointInvalidError",
    "CheckpointNotFoundError",
    "ConfigError",
    "DataError",
    "DeviceError",
    "DistributedError",
    "InputValidationError",
    "ModelError",
    "OutOfMemoryError",
    "PackageError",
    "PackageInvalidError",
    "PackageNotFoundError",
    "ProjectError",
    "RetryableError",
    "RunInUseError",
    "StorageError",
    "TrainingError",
]


class ProjectError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(ProjectError, ValueError):
    """A configuration file, key, value or command-line override is invalid."""


class DataError(ProjectError, ValueError):
    """A dataset cannot be built or loaded, or its contents are malformed."""


class InputValidationError(DataError):
    """Inputs given for prediction do not match the model's contract (shape, dtype, values)."""


class ModelError(ProjectError, ValueError):
    """A model cannot be built from its configuration."""


class CheckpointError(ProjectError):
    """Base class of checkpoint failures."""


class CheckpointNotFoundError(CheckpointError, FileNotFoundError):
    """A checkpoint, or a file it needs, does not exist."""


class CheckpointInvalidError(CheckpointError, ValueError):
    """A checkpoint exists but is corrupt, incomplete or does not fit the model."""


class PackageError(ProjectError):
    """Base class of model package failures."""


class PackageNotFoundError(PackageError, FileNotFoundError):
    """A model package, or a file it needs, does not exist."""


class PackageInvalidError(PackageError, ValueError):
    """A model package exists but is tampered, incomplete or of a schema this code cannot read."""


class DeviceError(ProjectError, RuntimeError):
    """The requested device is unknown or not available on this machine."""


class DistributedError(ProjectError, RuntimeError):
    """A distributed run cannot start, or lost contact with one of its processes."""


class StorageError(ProjectError, OSError):
    """A file or folder cannot be written: the disk is full, read-only, or access is denied."""


class TrainingError(ProjectError, RuntimeError):
    """Training cannot continue."""


class RunInUseError(TrainingError):
    """Another process holds the lock of the run folder this one would write."""


class RetryableError(ProjectError, RuntimeError):
    """A transient failure: retrying the same operation may succeed."""


class OutOfMemoryError(RetryableError):
    """The device ran out of memory; a smaller batch or another device may succeed."""
