"""FixMatch semi-supervised training: the loss and the Lightning module of ``--unlabeled``.

Per step, a labelled batch of ``B`` and an unlabelled batch of ``mu * B`` images (each as a
weak and a strong view) go through the model in one forward pass. Where the prediction on
the weak view is at least ``threshold`` confident, its class is the pseudo-label that the
strong view is trained towards (Sohn et al. 2020, "FixMatch"); the loss is
``supervised + lambda_u * unlabelled``.

Example:
    >>> loss_u, mask = consistency_loss(weak_logits, strong_logits, threshold=0.95)  # doctest: +SKIP
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from sightkit.tasks.classify.lit_module import ClassificationModule

# Per-epoch values logged by FixMatchModule, added to the run's history in the bundle.
SEMI_HISTORY_KEYS = ("unlabeled_loss", "mask_rate")


def consistency_loss(weak_logits: torch.Tensor, strong_logits: torch.Tensor,
                     threshold: float) -> tuple[torch.Tensor, torch.Tensor]:
    """FixMatch's unlabelled loss and mask: cross-entropy of the strong view against the weak view's
    confident hard pseudo-labels, averaged over all the unlabelled images (unconfident ones count 0).

    Returns ``(loss, mask)``; ``mask`` is 1.0 where the weak prediction reached ``threshold``.
    No gradient flows through the pseudo-labels.

    Example:
        >>> weak = torch.tensor([[4.0, 0.0], [0.1, 0.0]])
        >>> strong = torch.tensor([[0.0, 0.0], [0.0, 0.0]])
        >>> loss, mask = consistency_loss(weak, strong, threshold=0.95)
        >>> mask.tolist(), round(loss.item(), 4)  # only the first image is confident: ln(2) / 2
        ([1.0, 0.0], 0.3466)
    """
    confidence, pseudo_labels = weak_logits.detach().softmax(dim=1).max(dim=1)
    mask = (confidence >= threshold).float()
    loss = (F.cross_entropy(strong_logits, pseudo_labels, reduction="none") * mask).mean()
    return loss, mask


def smoothing_note(label_smoothing: float, num_classes: int, threshold: float) -> str | None:
    """A note when label smoothing keeps the labelled images' confidence under the pseudo-label threshold.

    With smoothing ``e`` the supervised loss is lowest at confidence ``1 - e + e / K``; below the
    threshold, pseudo-labels come only as the unlabelled loss pushes past it (on digits with 10%
    of the labels, 21% of the unlabelled images were pseudo-labelled after 20 epochs with 0.1,
    56% with 0: docs/data.md).

    Example:
        >>> print(smoothing_note(0.1, 10, 0.95))
        --label-smoothing 0.1 aims at 0.91 confidence, under --unlabeled-conf 0.95: fewer pseudo-labels
        >>> smoothing_note(0.0, 10, 0.95) is None
        True
    """
    aim = 1 - label_smoothing + label_smoothing / num_classes
    if aim >= threshold:
        return None
    return (f"--label-smoothing {label_smoothing:g} aims at {aim:.2f} confidence, under --unlabeled-conf "
            f"{threshold:g}: fewer pseudo-labels")


class FixMatchModule(ClassificationModule):
    """:class:`ClassificationModule` whose training step adds FixMatch's loss on unlabelled images.

    Batches are ``{"labeled": (images, labels), "unlabeled": (views, _)}`` (see
    :func:`sightkit.tasks.classify.semi_data.with_unlabeled`). Besides the supervised values it
    logs per epoch ``unlabeled_loss`` and ``mask_rate``: the share of unlabelled images whose
    weak-view confidence reached the threshold, i.e. that got a pseudo-label.
    """

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:  # type: ignore[override]
        cfg = self.config
        images, targets = self.mix(*batch["labeled"])
        views = batch["unlabeled"][0]
        weak, strong = views[:, 0], views[:, 1]
        logits = self.model(torch.cat([images, weak, strong]))  # one pass: batch-norm sees all three parts
        labelled_logits = logits[: len(images)]
        weak_logits, strong_logits = logits[len(images):].chunk(2)
        supervised = F.cross_entropy(labelled_logits, targets, weight=self.class_weights,
                                     label_smoothing=cfg.label_smoothing)
        unlabelled, mask = consistency_loss(weak_logits, strong_logits, cfg.unlabeled_conf)
        loss = supervised + cfg.lambda_u * unlabelled
        hard = targets.argmax(1) if targets.ndim == 2 else targets
        n_labelled, n_unlabelled = len(images), len(weak)
        self.log("loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=n_labelled)
        self.log("mask_rate", mask.mean(), prog_bar=True, on_step=False, on_epoch=True, sync_dist=True,
                 batch_size=n_unlabelled)
        self.log("unlabeled_loss", unlabelled, on_step=False, on_epoch=True, sync_dist=True, batch_size=n_unlabelled)
        self.log("train_loss", supervised, on_step=False, on_epoch=True, sync_dist=True, batch_size=n_labelled)
        self.log("train_acc", (labelled_logits.argmax(1) == hard).float().mean(), on_step=False, on_epoch=True,
                 sync_dist=True, batch_size=n_labelled)
        return loss
