"""``python -m sightkit`` runs the command line."""

from sightkit.cli.main import run

run()
