"""Keep Lightning's banners, tips and library warnings away from sightkit's users.

Lightning prints "GPU available" lines, a litlogger advert and notes on logging intervals,
and Lightning, torchmetrics and timm raise deprecation warnings that a user cannot act on.
:func:`quiet_training` hides them for the duration of a training run and then restores the
loggers' levels and the process's warning filters, so a user's own settings are untouched.

Example:
    >>> with quiet_training():  # doctest: +SKIP
    ...     trainer = build_trainer("runs/x", max_epochs=3, monitor="val_acc")
    ...     trainer.fit(module, train_loader, val_loader)
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

LIBRARY_LOGGERS = ("lightning", "lightning.pytorch", "lightning.fabric", "pytorch_lightning", "lightning_utilities")
# Warnings raised from inside these packages are about the libraries, not about the user's data.
_QUIET_MODULES = r"(lightning|pytorch_lightning|lightning_utilities|lightning_fabric|torchmetrics|timm)(\..*)?"


def hide_library_warnings() -> None:
    """Add the warning filters of :func:`quiet_training` to the current filters (use inside ``catch_warnings``)."""
    warnings.filterwarnings("ignore", module=_QUIET_MODULES)
    warnings.filterwarnings("ignore", category=UserWarning, message=r".*num_workers.*")
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"torch(\..*)?")


def quiet_libraries() -> None:
    """Hide Lightning's info lines and library warnings for the rest of this process (CLI commands).

    The Python API quiets them only while it trains (:func:`quiet_training`).
    """
    for logger in _library_loggers():
        logger.setLevel(logging.ERROR)
    hide_library_warnings()


@contextmanager
def quiet_training() -> Iterator[None]:
    """Silence Lightning's info lines and library warnings inside the block; restore everything after."""
    loggers = _library_loggers()
    levels = [logger.level for logger in loggers]
    try:
        with warnings.catch_warnings():
            hide_library_warnings()
            for logger in loggers:
                logger.setLevel(logging.ERROR)
            yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)


def _library_loggers() -> list[logging.Logger]:
    import lightning.pytorch  # noqa: F401  (it sets its loggers' levels on import, so set ours after)

    return [logging.getLogger(name) for name in LIBRARY_LOGGERS]
