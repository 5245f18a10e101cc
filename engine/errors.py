"""The engine's exceptions: each carries a one-line message meant for the user."""


class DIPError(Exception):
    """Base class: the CLI prints ``error: <message>`` and exits non-zero; the app shows it."""


class ImageError(DIPError):
    """A file that cannot be read as an image, or an image the engine cannot use."""


class MaskError(DIPError):
    """A mask that does not fit its image (size, content)."""


class ConfigError(DIPError):
    """An unknown task, preset or architecture, or a field out of range."""


class OutOfMemory(DIPError):
    """The device ran out of memory; the message says what to try instead."""


class Diverged(DIPError):
    """The optimisation kept producing NaN or exploding losses despite backtracking."""
