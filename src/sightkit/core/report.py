"""Evaluation reports shared by every task: ``report.json``, one PNG per figure, ``report.html``.

The HTML page is self-contained (inline CSS, figures embedded as base64 ``data:`` URIs), so it
can be mailed or attached to a ticket as one file. Every file is written atomically.
"""

from __future__ import annotations

import base64
import html
import io
import json
import re
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from sightkit import __version__
from sightkit.core.fileio import atomic_write_bytes, atomic_write_text
from sightkit.errors import ConfigError

# Resolution of saved figures: sharp on screen, small enough to embed in one HTML file.
_DPI = 110
# A figure name becomes a file name, so keep it to safe characters.
_FIGURE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; padding: 0 1rem; color: #222; }
h1 { margin-bottom: 0.2rem; } .meta { color: #666; margin-top: 0; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; font-size: 0.92rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f0f3f7; } tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 0 0 2rem; } img { max-width: 100%; height: auto; border: 1px solid #eee; }
.info td:last-child { text-align: left; } .note { background: #fff6db; padding: 0.4rem 0.8rem; }
details { margin: 2rem 0; } pre { background: #f6f8fa; padding: 1rem; overflow: auto; font-size: 0.8rem; }
"""


def write_report(
    out_dir: str | Path,
    report: dict,
    figures: dict[str, Figure],
    title: str,
    summary_keys: list[str] | None = None,
    info: dict[str, Any] | None = None,
    notes: list[str] | None = None,
) -> Path:
    """Write ``report.json``, ``<name>.png`` per figure and a self-contained ``report.html``.

    ``report`` may hold numpy/torch numbers and arrays (anything with ``.tolist()``); they are
    written as plain JSON, and NaN or infinite floats as ``null``. The HTML shows ``notes``
    (one line each), an "About this report" table of ``info`` (what was scored, the model and
    its training run), a summary table of ``summary_keys`` (default: every top-level scalar), a per-class table when
    ``report["per_class"]`` maps names to dicts, each figure under a heading, and the full
    JSON in a collapsible block. Figures are cleared after saving to free their memory.
    Creates ``out_dir`` if needed and returns the path of ``report.html``.

    Example:
        >>> fig = plot_confusion_matrix(m["confusion_matrix"], names)            # doctest: +SKIP
        >>> write_report("runs/eval", m, {"confusion_matrix": fig}, "cats vs dogs")  # doctest: +SKIP
        PosixPath('runs/eval/report.html')
    """
    data = _jsonable(report)
    if not isinstance(data, dict):
        raise ConfigError("report must be a dict of metrics.")
    bad_names = [name for name in figures if not _FIGURE_NAME.match(name)]
    if bad_names:
        raise ConfigError(f"figure names must use only letters, digits, '_', '.', '-'; got {bad_names}.")
    keys = summary_keys if summary_keys is not None else [k for k, v in data.items() if _is_scalar(v)]
    missing = [key for key in keys if key not in data]
    if missing:
        raise ConfigError(f"summary_keys {missing} are not in the report; its keys are {sorted(data)}.")

    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    pngs: dict[str, bytes] = {}
    for name, figure in figures.items():
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=_DPI)
        figure.clear()
        pngs[name] = buffer.getvalue()
        atomic_write_bytes(folder / f"{name}.png", pngs[name])

    report_json = json.dumps(data, indent=2, allow_nan=False) + "\n"
    atomic_write_text(folder / "report.json", report_json)
    page = _render_html(title, data, keys, pngs, report_json, info or {}, notes or [])
    return atomic_write_text(folder / "report.html", page)


def _render_html(title: str, data: dict, keys: list[str], pngs: dict[str, bytes], report_json: str,
                 info: dict[str, Any], notes: list[str]) -> str:
    """Build the report page; every string that comes from data is HTML-escaped."""
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="meta">sightkit {esc(__version__)} report</p>',
    ]
    parts += [f'<p class="note">{esc(note)}</p>' for note in notes]
    if info:
        rows = "".join(f"<tr><td>{esc(str(key))}</td><td>{esc(_format(value))}</td></tr>"
                       for key, value in info.items())
        parts.append(f'<h2>About this report</h2><table class="info"><tbody>{rows}</tbody></table>')
    if keys:
        rows = "".join(f"<tr><td>{esc(key)}</td><td>{esc(_format(data[key]))}</td></tr>" for key in keys)
        head = "<thead><tr><th>metric</th><th>value</th></tr></thead>"
        parts.append(f"<h2>Summary</h2><table>{head}<tbody>{rows}</tbody></table>")
    per_class = data.get("per_class")
    if isinstance(per_class, dict) and per_class and all(isinstance(v, dict) for v in per_class.values()):
        parts.append("<h2>Per class</h2>" + _per_class_table(per_class))
    for name, png in pngs.items():
        heading = name.replace("_", " ").capitalize()
        encoded = base64.b64encode(png).decode("ascii")
        image = f'<img alt="{esc(heading)}" src="data:image/png;base64,{encoded}">'
        parts.append(f"<figure><h2>{esc(heading)}</h2>{image}</figure>")
    parts.append(f"<details><summary>Full report (JSON)</summary><pre>{esc(report_json)}</pre></details>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _per_class_table(per_class: dict[str, dict]) -> str:
    """An HTML table with one row per class and one column per scalar field."""
    esc = html.escape
    columns: list[str] = []
    for fields in per_class.values():
        columns.extend(k for k, v in fields.items() if _is_scalar(v) and k not in columns)
    head = "".join(f"<th>{esc(c)}</th>" for c in ["class", *columns])
    rows = "".join(
        f"<tr><td>{esc(name)}</td>"
        + "".join(f"<td>{esc(_format(fields.get(c, '')))}</td>" for c in columns)
        + "</tr>"
        for name, fields in per_class.items()
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


def _jsonable(value: Any) -> Any:
    """A copy of ``value`` made of JSON types; arrays/tensors via ``.tolist()``, NaN/inf -> None."""
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "tolist"):
        return _jsonable(value.tolist())
    raise TypeError(
        f"cannot write a {type(value).__name__} into report.json; convert it to numbers or text first."
    )


def _is_scalar(value: Any) -> bool:
    """True for the JSON values a summary table can show in one cell."""
    return value is None or isinstance(value, (str, int, float))


def _format(value: Any) -> str:
    """A short display string: floats to 4 significant digits, ``None`` as an em dash."""
    if value is None:
        return "\u2014"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
