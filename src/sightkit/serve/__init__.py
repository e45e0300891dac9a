"""The HTTP service: a FastAPI app with a REST API and a web page over sightkit's facades.

Example:
    >>> from pathlib import Path
    >>> from sightkit.serve import ServeConfig, create_app          # doctest: +SKIP
    >>> app = create_app(ServeConfig(classifiers={"pets": Path("runs/pets/model")}))  # doctest: +SKIP
    >>> # uvicorn.run(app, host="127.0.0.1", port=8000)            # doctest: +SKIP
"""

from __future__ import annotations

from sightkit.serve.app import create_app
from sightkit.serve.config import ServeConfig

__all__ = ["ServeConfig", "create_app"]
