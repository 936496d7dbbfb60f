"""Exception classes. Each subclasses a built-in so callers may catch either."""


class XaresError(Exception):
    """Base class of every error X-ARES raises on purpose."""


class TaskConfigError(XaresError, ValueError):
    """A task file or TaskConfig is malformed (unknown field, wrong type, missing value)."""


class EncoderError(XaresError, RuntimeError):
    """The encoder could not be loaded, or broke the encoder contract while running."""


class DataError(XaresError, ValueError):
    """Audio shards are missing, unreadable, or hold a sample that cannot be used."""


class LabelError(DataError):
    """A sample's JSON could not be turned into a label by the task's label_processor."""


class ArtifactError(XaresError, RuntimeError):
    """A cached artifact on disk is incomplete, corrupt or belongs to another key."""


class RunOptionsError(XaresError, ValueError):
    """Options of a run that cannot go together (stages out of order, objects sent to workers)."""
