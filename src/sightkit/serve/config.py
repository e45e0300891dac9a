"""What ``sightkit serve`` loads and the limits it enforces, validated before anything loads.

Example:
    >>> from pathlib import Path
    >>> ServeConfig(classifiers={"pets": Path("model")}).max_upload_bytes
    20971520
    >>> ServeConfig(host="0.0.0.0")
    Traceback (most recent call last):
    ...
    sightkit.errors.ConfigError: --host 0.0.0.0 is reachable from other machines: give --api-key (or SIGHTKIT_API_KEY), or bind to 127.0.0.1
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sightkit.errors import ConfigError

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


class ServeConfig(BaseModel):
    """Models to serve (any subset), where to listen, keys, and request limits."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    classifiers: dict[str, Path] = Field(default_factory=dict, description="name -> classify bundle")
    gallery: Path | None = Field(None, description="face gallery (SQLite); created when missing")
    upscaler: str | None = Field(None, description="shipped model name (default-x4, ...) or enhance bundle")
    inpainter: str | None = Field(None, description="shipped inpainting model (general, face) or inpaint bundle")
    detector: Path | None = Field(None, description="detect bundle")
    catalog: Path | None = Field(None, description="search catalogue (SQLite) from 'sightkit search index'")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_key: str | None = Field(None, min_length=8, description="required in X-API-Key on /v1/* and /metrics")
    admin_key: str | None = Field(None, min_length=8, description="the only key that may enroll or delete faces")
    cors_origins: list[str] = Field(default_factory=list)
    max_upload_mb: float = Field(20.0, gt=0, le=1024)
    max_pixels: int = Field(40_000_000, ge=64)
    max_upscale_pixels: int = Field(1_000_000, ge=64, description="input pixels an upscale request may have")
    max_inpaint_pixels: int = Field(16_000_000, ge=64, description="pixels an inpaint request's image may have")
    max_batch: int = Field(32, ge=1, le=1024, description="images per micro-batch")
    max_wait_ms: float = Field(5.0, ge=0, le=1000, description="how long a batch waits for more requests")
    max_queue: int = Field(256, ge=1, description="requests waiting per model before 503")
    log_names: bool = Field(False, description="write identified face names to the access log")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

    @property
    def is_loopback(self) -> bool:
        """Whether only this machine can reach the server."""
        return is_loopback(self.host)

    @model_validator(mode="after")
    def _needs_key_beyond_loopback(self) -> ServeConfig:
        if not self.is_loopback and not self.api_key:
            raise ConfigError(f"--host {self.host} is reachable from other machines: give --api-key "
                              "(or SIGHTKIT_API_KEY), or bind to 127.0.0.1")
        if self.admin_key and not self.api_key:
            raise ConfigError("--admin-key needs --api-key too (the key for everything but enroll and delete)")
        if self.admin_key and self.admin_key == self.api_key:
            raise ConfigError("--admin-key must differ from --api-key")
        return self


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost; False for 0.0.0.0, :: and every other address.

    Example:
        >>> is_loopback("127.0.0.1"), is_loopback("0.0.0.0"), is_loopback("localhost")
        (True, False, True)
    """
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
