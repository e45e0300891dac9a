"""The options a user gave are told apart from defaults (what --resume keeps from a run)."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from sightkit.cli._options import given_options


def _app(seen: dict) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def train(ctx: typer.Context, epochs: int = typer.Option(10), lr: float = typer.Option(1e-3, envvar="TEST_LR"),
              width: int = typer.Option(24)) -> None:
        seen.update(given_options(ctx, ["epochs", "lr", "width"]))

    return app


def test_only_typed_or_environment_options_count_as_given() -> None:
    seen: dict = {}
    result = CliRunner().invoke(_app(seen), ["--epochs", "3"], env={"TEST_LR": "0.5"})
    assert result.exit_code == 0, result.output
    assert seen == {"epochs": 3, "lr": 0.5}


def test_a_typed_value_equal_to_the_default_still_counts() -> None:
    seen: dict = {}
    assert CliRunner().invoke(_app(seen), ["--width", "24"]).exit_code == 0
    assert seen == {"width": 24}


def test_command_line_is_the_group_command_and_the_typed_arguments(monkeypatch) -> None:
    from sightkit.cli._options import command_line

    app, group, seen = typer.Typer(), typer.Typer(), {}
    app.add_typer(group, name="detect")

    @group.command("train")
    def train(ctx: typer.Context, data: str, epochs: int = 1) -> None:
        seen["command"] = command_line(ctx, [data])

    @group.command("other")
    def other() -> None: ...

    monkeypatch.setattr("sys.argv", ["/bin/sightkit", "detect", "train", "my data", "--epochs", "5"])
    assert CliRunner().invoke(app, ["detect", "train", "my data", "--epochs", "5"]).exit_code == 0
    assert seen["command"] == "sightkit detect train 'my data' --epochs 5"
    monkeypatch.setattr("sys.argv", ["pytest"])  # called from Python: the fallback
    assert CliRunner().invoke(app, ["detect", "train", "d"]).exit_code == 0
    assert seen["command"] == "sightkit detect train d"
