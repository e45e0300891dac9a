"""dlib's pretrained face models: where their files are, and the 128-d ResNet ported to PyTorch.

The detector, landmark and descriptor weights come from the ``face_recognition_models``
package. Its ``__init__`` needs ``pkg_resources`` (gone from new setuptools), so the files
are located with :func:`importlib.util.find_spec` and that module is never imported.

The descriptor network is dlib's ``dlib_face_recognition_resnet_model_v1`` (a 29-layer
ResNet trained with a metric loss; 99.38% on LFW as published by dlib). Its weights are
read straight from dlib's ``.dat`` file into :class:`DlibResNet`, which reproduces dlib's
``compute_face_descriptor`` to ~1e-6 while running batched in PyTorch (about 3x faster
than dlib's own CPU code on one image, more on a batch).

Example:
    >>> net = load_resnet()                                   # doctest: +SKIP
    >>> net(chips_uint8_nhwc).shape                           # doctest: +SKIP
    torch.Size([4, 128])
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sightkit.errors import ModelError

# File names inside face_recognition_models/models/.
HOG_DETECTOR = "hog"  # built into dlib, no file
CNN_DETECTOR = "mmod_human_face_detector.dat"
LANDMARKS_5 = "shape_predictor_5_face_landmarks.dat"
LANDMARKS_68 = "shape_predictor_68_face_landmarks.dat"
RESNET = "dlib_face_recognition_resnet_model_v1.dat"

# dlib's input_rgb_image_sized<150>: per-channel means subtracted, then divided by 256.
CHIP_SIZE = 150
_RGB_MEAN = (122.782, 117.001, 104.298)
_RGB_SCALE = 256.0
# (blocks, first block halves the resolution) for each level, input side first (dlib's alevel4..alevel0).
_LEVELS = ((3, False), (4, True), (3, True), (3, True), (1, True))
# A layer record in dlib's serialisation: a length-prefixed name string (dlib int: 1 byte 0x01, length).
_LAYER_NAME = re.compile(rb"\x01[\x03-\x20](con_4|affine_|fc_2)")


def model_file(name: str) -> Path:
    """Path of one model file of the ``face_recognition_models`` package.

    Example:
        >>> model_file(LANDMARKS_5).name
        'shape_predictor_5_face_landmarks.dat'
    """
    spec = importlib.util.find_spec("face_recognition_models")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / "models" / name
        if path.is_file():
            return path
    raise ModelError(f"dlib model file {name} not found; install it with 'pip install face_recognition_models'")


class DlibResNet(nn.Module):
    """dlib's face descriptor ResNet with each affine (frozen batch-norm) folded into its conv.

    Input: uint8 aligned chips ``N x 150 x 150 x 3`` (RGB, as ``dlib.get_face_chip`` makes them).
    Output: ``N x 128`` descriptors, identical to dlib's (not L2-normalised; same-person
    Euclidean distances are mostly under 0.6).
    """

    def __init__(self, convs: list[tuple[torch.Tensor, torch.Tensor, int, int]], fc: torch.Tensor) -> None:
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(w, requires_grad=False) for w, _, _, _ in convs])
        self.biases = nn.ParameterList([nn.Parameter(b, requires_grad=False) for _, b, _, _ in convs])
        self.geometry = [(stride, padding) for _, _, stride, padding in convs]
        self.fc = nn.Parameter(fc, requires_grad=False)
        self.register_buffer("mean", torch.tensor(_RGB_MEAN).view(1, 3, 1, 1))

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        x = (chips.permute(0, 3, 1, 2).float() - self.mean) / _RGB_SCALE
        layer = iter(range(len(self.weights)))
        x = F.max_pool2d(F.relu(self._conv(x, next(layer))), 3, 2)
        for blocks, down in _LEVELS:
            for i in range(blocks):
                y = self._conv(F.relu(self._conv(x, next(layer))), next(layer))
                shortcut = F.avg_pool2d(x, 2, 2) if down and i == 0 else x
                x = F.relu(_add_padded(shortcut, y))
        return x.mean(dim=(2, 3)) @ self.fc

    def _conv(self, x: torch.Tensor, i: int) -> torch.Tensor:
        stride, padding = self.geometry[i]
        return F.conv2d(x, self.weights[i], self.biases[i], stride=stride, padding=padding)


def _add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's add_prev: sizes may differ; missing channels/rows/columns count as zero."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return pad(a) + pad(b)


@lru_cache(maxsize=2)
def load_resnet(path: str | None = None) -> DlibResNet:
    """The descriptor network from dlib's ``.dat`` file (default: the packaged one), in eval mode.

    Example:
        >>> load_resnet().fc.shape                            # doctest: +SKIP
        torch.Size([256, 128])
    """
    file = Path(path) if path else model_file(RESNET)
    try:
        convs, fc = _read_dat(file.read_bytes())
    except (OSError, ValueError, IndexError, AssertionError) as exc:
        raise ModelError(f"{file}: not a dlib face descriptor model ({exc})") from None
    return DlibResNet(convs, fc).eval()


def _read_dat(data: bytes) -> tuple[list[tuple[torch.Tensor, torch.Tensor, int, int]], torch.Tensor]:
    """Conv (folded with the affine after it) and fc weights, in forward order.

    dlib serialises a network input layer first. Each ``con_4`` record holds a tensor of
    all filters then biases, then (filters, rows, cols, stride y/x, padding y/x); each
    ``affine_`` holds gamma then beta; ``fc_2`` holds (outputs, inputs) then an inputs x
    outputs matrix. Tensors are version 2: four dlib ints, then little-endian float32.
    """
    convs: list[tuple[torch.Tensor, torch.Tensor, int, int]] = []
    pending: tuple[np.ndarray, list[int]] | None = None
    fc = None
    channels = 3
    for match in _LAYER_NAME.finditer(data):
        kind, pos = match.group(1), match.end()
        if kind == b"fc_2":
            outputs, pos = _read_int(data, pos)
            inputs, pos = _read_int(data, pos)
            values, _ = _read_tensor(data, pos)
            fc = torch.from_numpy(values.reshape(inputs, outputs).copy())
            continue
        values, pos = _read_tensor(data, pos)
        if kind == b"con_4":
            geometry = []
            for _ in range(7):
                value, pos = _read_int(data, pos)
                geometry.append(value)
            pending = (values, geometry)
            continue
        assert pending is not None, "affine layer without a conv before it"
        (params, (filters, rows, cols, stride, _, padding, _)), pending = pending, None
        n_weights = filters * channels * rows * cols
        weight = params[:n_weights].reshape(filters, channels, rows, cols)
        gamma, beta = values[:filters], values[filters:]
        convs.append((torch.from_numpy(weight * gamma[:, None, None, None]),
                       torch.from_numpy(params[n_weights:] * gamma + beta), stride, padding))
        channels = filters
    assert fc is not None and len(convs) == 29, f"expected 29 conv layers and an fc layer, found {len(convs)}"
    return convs, fc


def _read_int(data: bytes, pos: int) -> tuple[int, int]:
    """One dlib-serialised integer: a control byte (length, 0x80 = negative), then little-endian bytes."""
    control = data[pos]
    size = control & 0x0F
    value = int.from_bytes(data[pos + 1:pos + 1 + size], "little")
    return (-value if control & 0x80 else value), pos + 1 + size


def _read_tensor(data: bytes, pos: int) -> tuple[np.ndarray, int]:
    version, pos = _read_int(data, pos)
    assert version == 2, f"tensor format version {version}"
    count = 1
    for _ in range(4):
        dim, pos = _read_int(data, pos)
        count *= dim
    values = np.frombuffer(data, dtype="<f4", count=count, offset=pos).astype(np.float32)
    return values, pos + 4 * count
