"""``index.html``: one self-contained page to browse explanations (overlays embedded, text escaped).

Example:
    >>> write_index("why", results, summarize(results))  # doctest: +SKIP
    PosixPath('why/index.html')
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sightkit import __version__
from sightkit.core.fileio import atomic_write_text

if TYPE_CHECKING:
    from sightkit.explain.api import Explanation

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1200px; padding: 0 1rem; color: #222; }
.meta { color: #666; } table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: left; }
.grid { display: flex; flex-wrap: wrap; gap: 1rem; }
figure { margin: 0; width: 224px; font-size: 0.8rem; } figure img { width: 224px; border: 1px solid #eee; }
figcaption { overflow-wrap: anywhere; } .scores { color: #555; }
"""


def write_index(folder: Path, results: Sequence[Explanation], summary: dict[str, Any]) -> Path:
    """Write ``folder/index.html``: the summary table, then every overlay with its scores."""
    esc = html.escape
    title = f"sightkit explanations ({summary.get('method') or 'none'})"
    rows = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(_format(v))}</td></tr>" for k, v in summary.items())
    cards = "".join(_card(r) for r in results)
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">sightkit {esc(__version__)}; warm colours mark the pixels that raised the '
        "explained class's score the most.</p>",
        f"<h2>Summary</h2><table>{rows}</table>",
        f'<h2>Images</h2><div class="grid">{cards or "<p>No images.</p>"}</div>',
        "</body></html>\n",
    ])
    return atomic_write_text(folder / "index.html", page)


def _card(result: Explanation) -> str:
    esc = html.escape
    encoded = base64.b64encode(result.overlay_png()).decode("ascii")
    lines = [f"<b>{esc(result.label)}</b> p={result.score:.3f}", esc(result.path)]
    if result.predicted != result.label:
        lines.append(f"predicted: {esc(result.predicted)}")
    if result.faithfulness:
        f = result.faithfulness
        lines.append(f'<span class="scores">deletion {f["deletion_auc"]:.3f} (random {f["random_deletion_auc"]:.3f}, '
                     f'regions {f["region_random_deletion_auc"]:.3f}, centre {f["centre_deletion_auc"]:.3f}), '
                     f'insertion {f["insertion_auc"]:.3f} (random {f["random_insertion_auc"]:.3f}, '
                     f'regions {f["region_random_insertion_auc"]:.3f}, centre {f["centre_insertion_auc"]:.3f}), '
                     f'sanity rho {f["sanity_rank_correlation"]:.2f}</span>')
    if result.files:
        lines.append(" ".join(f'<a href="{esc(p)}">{esc(k)}</a>' for k, p in result.files.items()))
    image = f'<img alt="{esc(result.label)}" src="data:image/png;base64,{encoded}">'
    return f"<figure>{image}<figcaption>{'<br>'.join(lines)}</figcaption></figure>"


def _format(value: Any) -> str:
    if value is None:
        return "\u2014"
    return f"{value:.4g}" if isinstance(value, float) else str(value)
