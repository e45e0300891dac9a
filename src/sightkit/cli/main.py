"""The ``sightkit`` command line: one Typer app, one module per command group.

Heavy libraries are imported inside the commands, so ``sightkit --help`` answers fast.
Errors a user can act on print as one line (``error: ...``) with exit code 2; ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys
import traceback
from typing import Optional

import typer

from sightkit import __version__
from sightkit.cli import (anomaly, classify, data, demo, deploy, detect, enhance, explain, face, generate, info,
                          search, serve)
from sightkit.cli._help import is_help_shown, usage_error_line, use_readable_metavars
from sightkit.core.threads import THREADS_ENV_VAR

app = typer.Typer(
    name="sightkit",
    help="Image recognition toolkit: classify, explain, upscale, export and benchmark image models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(classify.app, name="classify")
app.add_typer(detect.app, name="detect")
app.add_typer(data.app, name="data")
app.add_typer(enhance.app, name="enhance")
app.add_typer(face.app, name="face")
app.add_typer(generate.app, name="generate")
app.add_typer(anomaly.app, name="anomaly")
app.add_typer(search.app, name="search")
app.command("explain")(explain.explain)
for _command in (deploy.export, deploy.quantize, deploy.prune, deploy.distill, deploy.bench):
    app.command()(_command)
app.command("info")(info.info)
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sightkit {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    threads: Optional[int] = typer.Option(
        None, "--threads", min=1, envvar=THREADS_ENV_VAR, show_envvar=True,
        help="Compute threads for PyTorch, ONNX Runtime and OpenCV, and the cap on loader workers "
             "\\[default: every core]."),
    debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors."),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    """sightkit: recognise what is in images."""
    if threads is not None:
        from sightkit.core.threads import set_threads

        set_threads(threads)


def run() -> None:
    """Console entry point: run the app and turn every user error into one ``error:`` line, exit 2.

    ``--debug`` prints the traceback instead of the line, with the same exit code.
    """
    debug = "--debug" in sys.argv
    try:
        from sightkit.core.threads import prepare_process

        prepare_process()  # before torch is imported: its thread pools read the environment once
        use_readable_metavars()
        code = typer.main.get_command(app).main(args=sys.argv[1:], prog_name="sightkit", standalone_mode=False)
    except KeyboardInterrupt:
        typer.echo("interrupted (a training run can be continued with --resume --out RUN_DIR)", err=True)
        sys.exit(130)
    except Exception as exc:
        from sightkit.errors import user_error_message

        if is_help_shown(exc):
            sys.exit(2)
        message = usage_error_line(exc) or user_error_message(exc)
        if message is not None:
            _fail(message, 2, debug)
        _fail(f"{type(exc).__name__}: {exc} (run with --debug for the traceback)", 1, debug)
    sys.exit(code if isinstance(code, int) else 0)


def _fail(message: str, code: int, debug: bool) -> None:
    """Print the traceback (``--debug``) or one ``error:`` line, then exit with ``code``."""
    if debug:
        traceback.print_exc()
    else:
        sys.stdout.flush()
        typer.echo(f"error: {message}", err=True)
    sys.exit(code)
