"""``sightkit serve`` refuses unsafe or broken set-ups with one error line, before anything starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from sightkit.errors import ConfigError
from sightkit.serve.config import ServeConfig, is_loopback


@pytest.mark.parametrize("host, loopback", [("127.0.0.1", True), ("::1", True), ("localhost", True),
                                            ("127.0.0.5", True), ("0.0.0.0", False), ("::", False),
                                            ("192.168.1.4", False), ("example.com", False)])
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_beyond_loopback_needs_a_key() -> None:
    with pytest.raises(ConfigError, match="--api-key"):
        ServeConfig(host="0.0.0.0")
    assert ServeConfig(host="0.0.0.0", api_key="long-enough-key").api_key
    with pytest.raises(ConfigError, match="differ"):
        ServeConfig(api_key="same-key-123", admin_key="same-key-123")
    with pytest.raises(ConfigError, match="needs --api-key"):
        ServeConfig(admin_key="admin-key-123")


def test_cli_refuses_public_host_without_key(cli) -> None:
    code, out, err = cli("serve", "--host", "0.0.0.0")
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [err.strip()] and err.startswith("error: --host 0.0.0.0")


def test_cli_refuses_missing_or_wrong_bundles(cli, tmp_path: Path, classifier_bundle: Path) -> None:
    code, _, err = cli("serve", "--classifier", str(tmp_path / "none"))
    assert code == 2 and err.startswith("error: --classifier") and "no such bundle" in err
    code, _, err = cli("serve", "--classifier", f"a={classifier_bundle}", "--classifier", f"a={classifier_bundle}")
    assert code == 2 and "taken" in err
    code, _, err = cli("serve", "--upscaler", "default-x9")
    assert code == 2 and "not a shipped model" in err
    code, _, err = cli("serve", "--gallery", str(tmp_path / "missing" / "people.db"))
    assert code == 2 and "does not exist" in err
    code, _, err = cli("serve", "--api-key", "short")
    assert code == 2 and err.startswith("error: --api-key")
    code, _, err = cli("serve", "--detector", str(tmp_path / "none"))
    assert code == 2 and err.startswith("error: --detector") and "no such bundle" in err
    code, _, err = cli("serve", "--detector", str(classifier_bundle))
    assert code == 2 and err.startswith("error: --detector") and "not a detector" in err
