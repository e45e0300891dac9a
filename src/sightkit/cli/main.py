"""The ``sightkit`` command line: one Typer app, one module per command group.

Heavy libraries are imported inside the commands, so ``sightkit --help`` answers fast.
Errors a user can act on print as one line (``error: ...``) with exit code 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys

import typer

from sightkit import __version__
from sightkit.cli import classify, demo, deploy, enhance, explain, face, info

app = typer.Typer(
    name="sightkit",
    help="Image recognition toolkit: classify, explain, upscale, export and benchmark image models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(classify.app, name="classify")
app.add_typer(enhance.app, name="enhance")
app.add_typer(face.app, name="face")
app.command("explain")(explain.explain)
for _command in (deploy.export, deploy.quantize, deploy.prune, deploy.distill, deploy.bench):
    app.command()(_command)
app.command("info")(info.info)
app.command("demo")(demo.demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sightkit {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """sightkit: recognise what is in images."""


def run() -> None:
    """Console entry point: run the app and turn errors into one clear line."""
    from sightkit.errors import SightkitError

    debug = "--debug" in sys.argv
    try:
        app(prog_name="sightkit")
    except SightkitError as exc:
        if debug:
            raise
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted (a training run can be continued with --resume --out RUN_DIR)", err=True)
        sys.exit(130)
    except Exception as exc:  # an unexpected failure: still one line unless --debug
        if debug:
            raise
        typer.echo(f"error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
        sys.exit(1)
