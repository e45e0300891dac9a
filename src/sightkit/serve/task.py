"""How a task joins the service: its routes, how it loads, what ``/v1/models`` says, its page panel.

Adding a task (inpainting, detection, search, ...) is one module in ``serve/routes/`` that
defines a :class:`ServedTask`, one line in ``serve/routes/__init__.py``, and one
``static/panels/<name>.js`` file for the page.

Example:
    >>> from fastapi import APIRouter
    >>> router = APIRouter()
    >>> async def start(config, metrics):          # None: not configured, not served
    ...     return None
    >>> TASK = ServedTask("echo", router, start)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import HTTPException, Request

if TYPE_CHECKING:
    from sightkit.serve.batching import ModelWorker
    from sightkit.serve.config import ServeConfig
    from sightkit.serve.metrics import Metrics


class Service(Protocol):
    """What a started task gives the app: a description for ``/v1/models`` and a way to stop."""

    async def describe(self) -> Any: ...

    async def close(self) -> None: ...


@dataclass(frozen=True)
class ServedTask:
    """A task of the service. ``start`` loads its models (or returns None when none are configured)."""

    name: str
    router: Any
    start: Callable[[ServeConfig, Metrics], Awaitable[Service | None]]


def loaded(task_name: str, hint: str) -> Callable[[Request], Any]:
    """A dependency giving the started service of ``task_name``, or 404 saying how to load it."""
    def service(request: Request) -> Any:
        found = request.app.state.services.get(task_name)
        if found is None:
            raise HTTPException(404, f"no {task_name} model is loaded; start the server with {hint}")
        return found
    return service


class OneModelService:
    """A task served by one model on its worker thread, one image at a time; subclasses say ``describe``.

    Example:
        >>> class EchoService(OneModelService):
        ...     async def describe(self):
        ...         return {"name": self.name}
    """

    def __init__(self, worker: ModelWorker, name: str) -> None:
        self.worker, self.name = worker, name

    async def describe(self) -> dict[str, Any]:
        raise NotImplementedError

    async def close(self) -> None:
        self.worker.close()
