"""Exceptions that sightkit raises. Each message names the file or option and what to do.

The CLI turns any :class:`SightkitError` into one line on stderr and a non-zero exit code.
"""

from __future__ import annotations


class SightkitError(Exception):
    """Base class of every error a user can act on."""


class ImageError(SightkitError):
    """An image file that cannot be read: missing, corrupt, not an image, too large, too small."""


class DataError(SightkitError):
    """A dataset that cannot be used: missing or empty folder, a class with no images, one class."""


class BundleError(SightkitError):
    """A model bundle that cannot be loaded: missing files, another task, a newer format."""


class ModelError(SightkitError):
    """A model name or weight file that cannot be used."""


class ConfigError(SightkitError):
    """An option value that is out of range or inconsistent with others."""


class EnhanceError(SightkitError):
    """An image that a super-resolution model cannot take: unsupported scale, too small, too large."""


class DeployError(SightkitError):
    """An export, quantization or compression whose result would be wrong (unsupported operator,
    parity failure, accuracy drop above the limit); nothing is written."""


class FaceError(SightkitError):
    """An image that cannot be used as a face: no face, several faces where one is needed, too small."""


class GalleryError(SightkitError):
    """A face gallery that cannot be used: not a gallery, from a newer sightkit, unknown person."""


class CatalogError(SightkitError):
    """A search catalogue that cannot be used: not a catalogue, newer format, built with another model."""


def user_error_message(exc: BaseException) -> str | None:
    """The one-line message for an error the user can fix, or None for a bug.

    A :class:`SightkitError` gives its own message; a pydantic ``ValidationError`` (an option
    value that a config model refused) gives ``--option: reason`` per field.

    Example:
        >>> user_error_message(ConfigError("--epochs must be at least 1"))
        '--epochs must be at least 1'
    """
    if isinstance(exc, SightkitError):
        return str(exc)
    if type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic"):
        parts = []
        for error in exc.errors():  # type: ignore[attr-defined]
            field = "--" + "-".join(str(p) for p in error.get("loc", ())).replace("_", "-")
            reason = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
            parts.append(f"{field}: {reason}" if field != "--" else reason)
        return "; ".join(parts)
    return None
