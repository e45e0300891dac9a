"""sightkit metadata inside an ONNX file: the bundle's ``bundle.json`` as one metadata property.

The property ``sightkit.bundle`` holds the JSON of the bundle metadata (task, classes,
preprocessing, calibration, ...) plus what export and quantization added (``export``,
``quantization``). Any ONNX Runtime reads it back, e.g. on a phone:
``session.get_modelmeta().custom_metadata_map["sightkit.bundle"]``.

Example:
    >>> attach_metadata(model_proto, {"task": "classify", "classes": ["cat", "dog"]})  # doctest: +SKIP
    >>> read_metadata("model.onnx")["classes"]  # doctest: +SKIP
    ['cat', 'dog']
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import onnx

from sightkit.errors import BundleError

METADATA_KEY = "sightkit.bundle"


def attach_metadata(model: onnx.ModelProto, meta: dict[str, Any]) -> onnx.ModelProto:
    """Store ``meta`` as the ``sightkit.bundle`` property of ``model`` (replacing an older one)."""
    kept = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    model.metadata_props.add(key=METADATA_KEY, value=json.dumps(meta, default=str))
    model.producer_name = "sightkit"
    return model


def read_metadata(source: str | Path | onnx.ModelProto) -> dict[str, Any]:
    """The sightkit metadata of an ONNX file (or model); :class:`BundleError` when it has none."""
    name = "<model>" if isinstance(source, onnx.ModelProto) else str(source)
    if isinstance(source, onnx.ModelProto):
        model = source
    else:
        if not Path(source).is_file():
            raise BundleError(f"{name}: no such ONNX file")
        try:
            model = onnx.load(str(source), load_external_data=False)
        except Exception as exc:  # protobuf raises its own DecodeError
            raise BundleError(f"{name}: not an ONNX file ({exc})") from None
    props = {p.key: p.value for p in model.metadata_props}
    if METADATA_KEY not in props:
        raise BundleError(f"{name}: no sightkit metadata; export the model with 'sightkit export BUNDLE'")
    try:
        meta = json.loads(props[METADATA_KEY])
    except json.JSONDecodeError as exc:
        raise BundleError(f"{name}: its sightkit metadata is not valid JSON ({exc})") from None
    if not isinstance(meta, dict) or "task" not in meta:
        raise BundleError(f"{name}: its sightkit metadata has no 'task'")
    return meta
