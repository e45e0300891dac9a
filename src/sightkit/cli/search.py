"""``sightkit search index|query|remove``: similar-image search over a catalogue of classifier embeddings."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from sightkit.cli._output import print_json, progress_bar, status

app = typer.Typer(help="Similar-image search: index a folder with a classifier's embeddings, query it with images.",
                  no_args_is_help=True)

DB = typer.Option(..., "--db", help="Catalogue file (SQLite), e.g. catalog.db.")
JSON = typer.Option(False, "--json", help="Print machine-readable JSON.")


@app.command()
def index(
    bundle: Path = typer.Argument(..., metavar="BUNDLE", help="A classify bundle (folder or .sightkit) whose "
                                                              "penultimate layer embeds the images."),
    folder: Path = typer.Argument(..., metavar="FOLDER", help="Folder of images (searched recursively)."),
    db: Path = DB,
    prune: bool = typer.Option(False, "--prune", help="Also delete the entries of files gone from FOLDER."),
    batch_size: int = typer.Option(64, "--batch-size", min=1, help="Images per embedding batch."),
    json_out: bool = JSON,
) -> None:
    """Add FOLDER's images to the catalogue: new ones are embedded, unchanged skipped, changed re-embedded."""
    from sightkit.errors import ConfigError
    from sightkit.tasks.search.api import SearchIndex

    if not folder.is_dir():
        raise ConfigError(f"FOLDER {folder}: not a folder of images")
    catalogue = SearchIndex.create(bundle, db)
    try:
        with progress_bar("embedding", catalogue.pending(folder), enabled=not json_out) as advance:
            summary = catalogue.update(folder, prune=prune, batch_size=batch_size, progress=advance)
    except BaseException:
        catalogue.abandon()
        raise
    catalogue.close()
    result = {"db": str(db), **summary.to_dict()}
    if json_out:
        print_json(result)
    else:
        typer.echo(f"{db}: {summary.total} images ({summary.added} added, {summary.updated} updated, "
                   f"{summary.unchanged} unchanged, {summary.removed} removed)")
    if summary.unreadable:
        status(f"{len(summary.unreadable)} images could not be read and are not in the catalogue, "
               f"e.g. {summary.unreadable[0][1]}")
        raise typer.Exit(1)


@app.command()
def query(
    images: list[str] = typer.Argument(..., metavar="IMAGE", help="Query images: files, folders or globs."),
    db: Path = DB,
    k: int = typer.Option(10, "-k", "--top-k", min=1, help="Results per query image."),
    bundle: Optional[Path] = typer.Option(None, "--bundle", help="The model to embed the queries with; it must be "
                                                                 "the catalogue's. \\[default: the catalogue's]"),
    html_out: Optional[Path] = typer.Option(None, "--html", help="Also write a page with thumbnails of the queries "
                                                                 "and results, e.g. results.html."),
    json_out: bool = JSON,
) -> None:
    """The K catalogue images most similar to each query image, with cosine similarity (1 = same direction)."""
    from sightkit.tasks.classify.predict import expand_image_paths
    from sightkit.tasks.search.api import SearchIndex

    _check_html(html_out)
    paths = expand_image_paths(images)
    with SearchIndex.open(db, bundle) as catalogue:
        results = catalogue.query_many(paths, k)
    if html_out is not None:
        from sightkit.tasks.search.html import write_results_page

        write_results_page(html_out, paths, results)
        status(f"page: {html_out}")
    if json_out:
        print_json([{"query": str(p), "results": [hit.to_dict() for hit in hits]} for p, hits in zip(paths, results)])
        return
    for path, hits in zip(paths, results):
        typer.echo(f"{path}")
        for hit in hits:
            typer.echo(f"  {hit.rank:>3}  {hit.score:.4f}  {hit.path}")


@app.command()
def remove(
    paths: Optional[list[Path]] = typer.Argument(None, metavar="PATH", help="Files or folders whose entries "
                                                                                 "to delete."),
    db: Path = DB,
    missing: bool = typer.Option(False, "--missing", help="Delete the entries of every file that no longer exists."),
    json_out: bool = JSON,
) -> None:
    """Delete catalogue entries: of the given files or folders, and/or (--missing) of files gone from disk."""
    from sightkit.errors import ConfigError
    from sightkit.tasks.search.api import SearchIndex

    if not paths and not missing:
        raise ConfigError("give PATH... (files or folders) or --missing")
    with SearchIndex.open(db, with_model=False) as catalogue:
        removed = catalogue.remove(paths or [])
        if missing:
            removed += catalogue.remove_missing()
        total = len(catalogue)
    if json_out:
        print_json({"db": str(db), "removed": removed, "total": total})
    else:
        typer.echo(f"{db}: {removed} entries removed, {total} left")


def _check_html(html_out: Optional[Path]) -> None:
    from sightkit.errors import ConfigError

    if html_out is None:
        return
    if html_out.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--html {html_out}: give a .html file name")
    if not html_out.parent.is_dir():
        raise ConfigError(f"--html {html_out}: folder {html_out.parent} does not exist")
