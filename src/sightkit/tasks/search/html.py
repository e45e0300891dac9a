"""A self-contained HTML page of search results: each query's thumbnail, then its hits with scores.

Thumbnails are JPEG ``data:`` URIs, so the page is one file that can be mailed; every string
from the data is HTML-escaped, and the file is written atomically. An image that cannot be
read any more shows as a grey box with its path.

Example:
    >>> write_results_page("results.html", ["shoe.jpg"], [index.query("shoe.jpg")])  # doctest: +SKIP
    PosixPath('results.html')
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path

from sightkit import __version__
from sightkit.core.fileio import atomic_write_text
from sightkit.core.images import load_image
from sightkit.errors import ImageError
from sightkit.tasks.search.api import SearchHit

THUMBNAIL_SIDE = 160

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
section { margin: 0 0 2rem; } .row { display: flex; flex-wrap: wrap; gap: 0.8rem; align-items: flex-start; }
figure { margin: 0; width: 170px; font-size: 0.8rem; overflow-wrap: anywhere; }
figure.query { border-right: 3px solid #2b6cb0; padding-right: 0.8rem; }
img, .missing { width: 160px; height: 160px; object-fit: contain; background: #f4f4f4; border: 1px solid #ddd; }
.score { font-weight: 600; }
"""


def thumbnail_uri(image: str | Path, side: int = THUMBNAIL_SIDE) -> str | None:
    """A JPEG ``data:`` URI of ``image`` shrunk to fit ``side`` pixels, or None when it cannot be read.

    Example:
        >>> thumbnail_uri("missing.png") is None
        True
    """
    try:
        picture = load_image(image, mode="RGB")
    except ImageError:
        return None
    picture.thumbnail((side, side))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def write_results_page(out: str | Path, queries: Sequence[str | Path], results: Sequence[Sequence[SearchHit]],
                       title: str = "Similar images") -> Path:
    """Write the page for ``queries`` (image paths) and their ``results`` (one hit list each); returns ``out``."""
    esc = html.escape
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
             f"<h1>{esc(title)}</h1>", f'<p class="meta">sightkit {esc(__version__)} search results</p>']
    for number, (query, hits) in enumerate(zip(queries, results), 1):
        figures = [_figure(query, "query", is_query=True)]
        figures += [_figure(hit.path, f"#{hit.rank} {hit.score:.3f}") for hit in hits]
        parts.append(f'<section><h2>Query {number}: {esc(Path(query).name)}</h2>'
                     f'<div class="row">{"".join(figures)}</div></section>')
    parts.append("</body></html>\n")
    return atomic_write_text(out, "\n".join(parts))


def _figure(path: str | Path, caption: str, is_query: bool = False) -> str:
    esc = html.escape
    uri = thumbnail_uri(path)
    picture = f'<img alt="{esc(str(path))}" src="{uri}">' if uri else '<div class="missing"></div>'
    role = ' class="query"' if is_query else ""
    return (f'<figure{role}>{picture}<figcaption><span class="score">{esc(caption)}</span><br>'
            f"{esc(str(path))}</figcaption></figure>")
