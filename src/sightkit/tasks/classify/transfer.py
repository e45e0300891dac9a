"""Start a classifier from another classify run: ``--init``, ``--freeze-backbone``, ``--backbone-lr-scale``.

``--init`` takes a classify bundle (folder or ``.sightkit``) or a Lightning checkpoint of a
``sightkit classify train`` run (``RUN/checkpoints/*.ckpt``; the run's ``config.json`` names its
architecture and classes). Unlike ``--weights`` (any state dict, tensors matched by shape), it
checks what it loads: the task, the architecture, the channels, and the whole backbone. The
classification head is kept when the classes are the same (reordered to the new class order).
When they differ, :func:`load_init` sets it to zeros (uniform predictions rather than large
random logits on the trained features) and :func:`prepare_start` then imprints it with the class
prototypes of the training images' embeddings (Qi, Brown and Lowe 2018), so training starts
from the ``--few-shot`` classifier.

Example:
    >>> model = create_model("skcnn_small", num_classes=5)  # doctest: +SKIP
    >>> load_init(model, read_init("runs/cifar/model"), ["cat", "dog", "fox", "owl", "yak"])  # doctest: +SKIP
    'backbone from runs/cifar/model; new zero head for 5 classes (the source has 5 others)'
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sightkit.errors import BundleError, ConfigError, ModelError

TASK = "classify"
DEFAULT_BACKBONE_LR_SCALE = 0.1  # with --init: the backbone already knows useful features; move it gently
IMPRINT_PER_CLASS = 64  # training images per class whose embeddings imprint a new head


@dataclass(frozen=True)
class InitSource:
    """What an ``--init`` path holds: its kind, architecture, channels, classes and input size."""

    path: Path
    kind: str  # "bundle" or "checkpoint"
    model: str
    in_chans: int
    classes: list[str] | None  # None: a checkpoint whose run recorded no class names
    img_size: int | None


def read_init(path: str | Path) -> InitSource:
    """Describe ``path`` (a classify bundle or a classify run's ``.ckpt``) without loading its weights.

    Raises :class:`~sightkit.errors.ConfigError` for a missing file, a bundle of another task or
    a checkpoint outside a classify run folder.

    Example:
        >>> read_init("runs/cifar/model").model  # doctest: +SKIP
        'skcnn_small'
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"--init {path}: not found; give a classify bundle or a run's checkpoints/*.ckpt")
    if path.suffix == ".ckpt":
        return _read_checkpoint_source(path)
    from sightkit.core.bundle import read_meta

    try:
        meta = read_meta(path)
    except BundleError as exc:
        raise ConfigError(f"--init: {exc}") from None
    if meta["task"] != TASK:
        raise ConfigError(f"--init {path}: this is a '{meta['task']}' bundle; --init needs a classify bundle "
                          "(or a classify run's checkpoint)")
    arch = meta["architecture"]
    if arch.get("channels"):
        raise ConfigError(f"--init {path}: a pruned bundle (resized layers) cannot start a training run; "
                          "use the bundle it was pruned from")
    return InitSource(path, "bundle", arch["name"], int(arch["in_chans"]), list(meta["classes"]),
                      int(meta["preprocessing"]["size"]))


def _read_checkpoint_source(path: Path) -> InitSource:
    """A checkpoint of ``RUN/checkpoints/``: its run's ``config.json`` (and bundle, for older runs) describe it."""
    run_dir = path.resolve().parent.parent
    config_file = run_dir / "config.json"
    if not config_file.is_file():
        raise ConfigError(f"--init {path}: no config.json in {run_dir}; a checkpoint must stay in its "
                          "'sightkit classify train' run folder (for other weights use --weights FILE)")
    saved = json.loads(config_file.read_text())
    classes = saved.get("classes")
    if classes is None and (run_dir / "model" / "bundle.json").is_file():
        classes = json.loads((run_dir / "model" / "bundle.json").read_text()).get("classes")
    return InitSource(path, "checkpoint", saved["config"]["model"], int(saved["channels"]), classes,
                      saved.get("img_size"))


def init_model_name(path: str | Path) -> str:
    """The architecture of an ``--init`` source, used as ``--model`` when that is not given.

    Example:
        >>> init_model_name("runs/cifar/model")  # doctest: +SKIP
        'skcnn_small'
    """
    return read_init(path).model


def check_init(config: Any) -> Any:
    """Check ``config.init`` against ``config.model`` before any data is read.

    Returns ``config`` with ``img_size`` set to the source's input size when not given (the
    backbone learned its features at that scale).

    Example:
        >>> check_init(make_config(init="runs/cifar/model")).img_size  # doctest: +SKIP
        32
    """
    if not config.init:
        return config
    source = read_init(config.init)
    if source.model != config.model:
        raise ConfigError(f"--init {source.path} holds a {source.model} model, not --model {config.model}; "
                          f"drop --model (it defaults to the --init architecture)")
    if config.img_size is None and source.img_size:
        return config.model_copy(update={"img_size": source.img_size})
    return config


def load_init(model: nn.Module, source: InitSource, classes: list[str], in_chans: int) -> str:
    """Load the backbone of ``source`` into ``model``; keep its head when its classes are ``classes``.

    Every backbone tensor must be there with its shape (else :class:`ModelError`: another
    architecture). The head keeps its rows, reordered to ``classes``, when the class names are the
    same set; otherwise it is set to zeros. Returns a one-line description.
    """
    if source.in_chans != in_chans:
        kinds = {1: "grayscale", 3: "colour"}
        raise ConfigError(f"--init {source.path} takes {kinds.get(source.in_chans, source.in_chans)} images, "
                          f"but DATA is {kinds.get(in_chans, in_chans)}")
    state = _read_state(source)
    head = head_keys(model)
    own = model.state_dict()
    backbone = {}
    for key, tensor in own.items():
        if key in head:
            continue
        theirs = state.get(key)
        if theirs is None or theirs.shape != tensor.shape:
            found = "missing" if theirs is None else f"shaped {tuple(theirs.shape)}, not {tuple(tensor.shape)}"
            raise ModelError(f"--init {source.path}: not a {source.model} backbone ({key} {found}); "
                             "is it for another architecture?")
        backbone[key] = theirs
    model.load_state_dict(backbone, strict=False)
    if _same_classes(source, classes) and all(k in state for k in head):
        order = torch.tensor([source.classes.index(name) for name in classes])
        with torch.no_grad():
            for key in head:
                own[key].copy_(state[key][order])
        return f"backbone and head from {source.path} (same {len(classes)} classes)"
    with torch.no_grad():
        for key in head:
            own[key].zero_()
    known = f"{len(source.classes)} others" if source.classes is not None else "classes not recorded"
    return f"backbone from {source.path}; new zero head for {len(classes)} classes (the source has {known})"


def _read_state(source: InitSource) -> dict[str, torch.Tensor]:
    """The model tensors of a bundle or a Lightning checkpoint (read with ``weights_only``: no code)."""
    if source.kind == "bundle":
        from sightkit.core.bundle import load_bundle

        return load_bundle(source.path, task=TASK)[0]
    try:
        checkpoint = torch.load(source.path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(f"--init {source.path}: cannot read the checkpoint ({exc})") from None
    state = checkpoint.get("state_dict") if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise ConfigError(f"--init {source.path}: not a Lightning checkpoint (no state_dict)")
    return {key.removeprefix("model."): value for key, value in state.items() if key.startswith("model.")}


def classifier_layer(model: nn.Module) -> nn.Module:
    """The final classification layer: ``head[-1]`` of a built-in model, timm's ``get_classifier()``.

    Example:
        >>> classifier_layer(create_model("skcnn_tiny", 3))  # doctest: +SKIP
        Linear(in_features=64, out_features=3, bias=True)
    """
    from sightkit.tasks.classify.model import SkCNN

    if isinstance(model, SkCNN):
        return model.head[-1]
    if hasattr(model, "get_classifier"):
        return model.get_classifier()
    raise ModelError(f"{type(model).__name__}: cannot find its classification layer (not a built-in or timm model)")


def head_keys(model: nn.Module) -> set[str]:
    """State-dict keys of the classification layer."""
    layer = classifier_layer(model)
    prefix = next(name for name, module in model.named_modules() if module is layer)
    return {f"{prefix}.{name}" for name, _ in layer.named_parameters()}


def _backbone_modules(model: nn.Module) -> Iterator[nn.Module]:
    layer = classifier_layer(model)
    head_parts = set(map(id, layer.modules()))
    return (m for m in model.modules() if id(m) not in head_parts)


def freeze_backbone(model: nn.Module) -> int:
    """Stop gradients to every parameter outside the classification layer; returns how many were frozen."""
    head = set(map(id, classifier_layer(model).parameters()))
    frozen = 0
    for param in model.parameters():
        if id(param) not in head:
            param.requires_grad_(False)
            frozen += param.numel()
    return frozen


def backbone_norms_eval(model: nn.Module) -> None:
    """Put the backbone's BatchNorm layers in eval mode, so a frozen backbone keeps its statistics.

    Call it after every ``model.train()`` (Lightning's train mode resets it each epoch).
    """
    for module in _backbone_modules(model):
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


def backbone_lr_scale(config: Any) -> float:
    """``--backbone-lr-scale``, else 0.1 with ``--init`` and 1 without.

    Example:
        >>> backbone_lr_scale(make_config())  # doctest: +SKIP
        1.0
    """
    if config.backbone_lr_scale is not None:
        return float(config.backbone_lr_scale)
    return DEFAULT_BACKBONE_LR_SCALE if config.init else 1.0


def parameter_groups(model: nn.Module, lr: float, weight_decay: float, backbone_scale: float) -> list[dict]:
    """Optimizer groups: backbone at ``lr * backbone_scale`` and head at ``lr``, each with and without
    weight decay (biases and norms have none). Frozen parameters and empty groups are left out; with
    ``backbone_scale`` 1 the head shares the backbone's two groups (as in runs before ``--init``, so
    their checkpoints resume).

    Example:
        >>> [g["lr"] for g in parameter_groups(create_model("skcnn_tiny", 3), 1e-3, 0.05, 0.1)]  # doctest: +SKIP
        [0.0001, 0.0001, 0.001, 0.001]
    """
    head = set(map(id, classifier_layer(model).parameters())) if backbone_scale != 1.0 else set()
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {(h, d): [] for h in (False, True) for d in (True, False)}
    for param in model.parameters():
        if param.requires_grad:
            groups[(id(param) in head, param.ndim > 1)].append(param)
    return [{"params": params, "lr": lr * (1.0 if is_head else backbone_scale),
             "weight_decay": weight_decay if decays else 0.0}
            for (is_head, decays), params in groups.items() if params]


def prepare_start(model: nn.Module, config: Any, splits: Any, in_chans: int, status: Any) -> None:
    """Apply ``--init`` and ``--freeze-backbone`` to a freshly built ``model``, saying what was done.

    A new head (other classes) is imprinted: its rows become the class prototypes of the training
    images' embeddings (up to ``IMPRINT_PER_CLASS`` per class), so training starts from the
    nearest-class-mean classifier of ``--few-shot`` instead of from nothing.
    """
    if config.init:
        source = read_init(config.init)
        status(f"init: {load_init(model, source, splits.classes, in_chans)}")
        if not _same_classes(source, splits.classes) and splits.train and config.img_size:
            status(f"init: {imprint_head(model, splits, config, in_chans)}")
    if config.freeze_backbone:
        status(f"frozen backbone: {freeze_backbone(model):,} parameters; training the head alone")


def imprint_head(model: nn.Module, splits: Any, config: Any, in_chans: int) -> str:
    """Set the classification layer to the prototypes of (up to ``IMPRINT_PER_CLASS`` per class) training images.

    Example:
        >>> imprint_head(model, splits, make_config(init="runs/cifar/model", img_size=32), 3)  # doctest: +SKIP
        'head imprinted with the class means of 25 training images'
    """
    from sightkit.data.dataset import ImageDataset
    from sightkit.data.transforms import build_eval_transform
    from sightkit.tasks.classify.model import default_normalization
    from sightkit.tasks.classify.prototypes import embed_samples, set_prototype_head

    samples, taken = [], Counter()
    for sample in splits.train:
        if taken[sample.label] < IMPRINT_PER_CLASS:
            samples.append(sample)
            taken[sample.label] += 1
    mean, std = default_normalization(config.model, in_chans)
    dataset = ImageDataset(samples, "L" if in_chans == 1 else "RGB", config.img_size, build_eval_transform(mean, std))
    was_training = model.training
    features, labels = embed_samples(model.eval(), dataset)
    model.train(was_training)
    set_prototype_head(model, features, labels, len(splits.classes))
    return f"head imprinted with the class means of {len(labels)} training images"


def _same_classes(source: InitSource, classes: list[str]) -> bool:
    return source.classes is not None and sorted(source.classes) == sorted(classes)
