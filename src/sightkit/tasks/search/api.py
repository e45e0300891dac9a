"""The similar-image search facade that the CLI, the service and users call.

A catalogue is one SQLite file holding, for every indexed image, its path, file fingerprint
and the L2-normalised penultimate-layer embedding of a classify bundle
(:meth:`sightkit.Classifier.embed`). Queries are embedded by the same model (a catalogue
refuses any other) and ranked by cosine similarity.

Example:
    >>> index = SearchIndex.build("runs/shop/model", "catalogue/", "catalog.db")  # doctest: +SKIP
    >>> hits = SearchIndex.open("catalog.db").query("photo.jpg", k=5)              # doctest: +SKIP
    >>> hits[0].path, round(hits[0].score, 3)                                       # doctest: +SKIP
    ('/data/catalogue/shoes/0042.jpg', 0.974)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sightkit.core.images import ImageSource
from sightkit.errors import CatalogError, ConfigError
from sightkit.tasks.search.model_identity import check_same_model, model_identity, stored_model
from sightkit.tasks.search.store import CatalogStore
from sightkit.tasks.search.sync import SyncSummary, missing_under, plan, sync_folder
from sightkit.tasks.search.index import METHODS, VectorIndex

if TYPE_CHECKING:
    from sightkit.tasks.classify.api import Classifier


@dataclass(frozen=True)
class SearchHit:
    """One result: the catalogue image's path, its cosine similarity to the query (-1..1) and rank (1 = best)."""

    path: str
    score: float
    rank: int

    def to_dict(self) -> dict[str, Any]:
        return {"rank": self.rank, "path": self.path, "score": round(self.score, 6)}


class SearchIndex:
    """A catalogue of image embeddings and the model that made them; query it with images or vectors."""

    def __init__(self, store: CatalogStore, model: Classifier | None = None, method: str = "auto") -> None:
        self.store, self.method = store, _method(method)
        self._model = model
        self._bundle: Path | None = None
        self._is_new = False
        self._index: VectorIndex | None = None
        self._paths: list[str] = []
        self._revision = -1
        self.last_sync: SyncSummary | None = None

    @classmethod
    def build(cls, bundle: str | Path, folder: str | Path, db: str | Path, *, prune: bool = False,
              batch_size: int = 64, progress: Callable[[int], None] | None = None,
              method: str = "auto") -> SearchIndex:
        """Index the images under ``folder`` into ``db`` (created when missing) with ``bundle``'s embeddings.

        Re-running adds new files, skips unchanged ones and re-embeds changed ones; ``prune``
        deletes the entries of files gone from ``folder``. What the run did is in ``.last_sync``.
        A ``db`` built with another model is refused (:class:`~sightkit.errors.CatalogError`).

        Example:
            >>> SearchIndex.build("runs/shop/model", "catalogue/", "catalog.db").last_sync.added  # doctest: +SKIP
            1500
        """
        _folder(folder)
        index = cls.create(bundle, db, method)
        try:
            index.last_sync = index.update(folder, prune=prune, batch_size=batch_size, progress=progress)
        except BaseException:
            index.abandon()
            raise
        return index

    @classmethod
    def create(cls, bundle: str | Path, db: str | Path, method: str = "auto") -> SearchIndex:
        """Open ``db`` for indexing with ``bundle`` (created when missing; refused when built with another model).

        Example:
            >>> SearchIndex.create("runs/shop/model", "catalog.db").pending("catalogue/")  # doctest: +SKIP
            1500
        """
        _method(method)
        identity = model_identity(bundle)
        model = _load_model(bundle)
        is_new = not Path(db).exists()
        store = CatalogStore.open(db, create=True, meta={"model": identity})
        try:
            check_same_model(store.meta().get("model", {}), identity, db)
        except CatalogError:
            store.close()
            raise
        index = cls(store, model, method)
        index._is_new = is_new
        return index

    @classmethod
    def open(cls, db: str | Path, bundle: str | Path | None = None, method: str = "auto", *,
             with_model: bool = True) -> SearchIndex:
        """Open an existing catalogue; ``bundle`` (default: the one it was built with) must be its model.

        The model loads on the first image query. A different model, or the original bundle
        changed on disk, raises :class:`~sightkit.errors.CatalogError`. ``with_model=False``
        opens the catalogue alone, for :meth:`remove` and vector queries.

        Example:
            >>> SearchIndex.open("catalog.db").query("photo.jpg", k=3)[0].rank  # doctest: +SKIP
            1
        """
        _method(method)
        store = CatalogStore.open(db)
        if not with_model:
            return cls(store, None, method)
        try:
            stored = store.meta().get("model", {})
            if bundle is not None:
                check_same_model(stored, model_identity(bundle), db)
                path = Path(bundle)
            else:
                path = stored_model(stored, db)
        except Exception:
            store.close()
            raise
        index = cls(store, None, method)
        index._bundle = path
        return index

    @property
    def model(self) -> Classifier:
        """The classifier whose embeddings the catalogue holds (loaded on first use)."""
        if self._model is None:
            if self._bundle is None:
                raise CatalogError(f"{self.store.path}: opened without its model; open it with with_model=True")
            self._model = _load_model(self._bundle)
        return self._model

    @property
    def info(self) -> dict[str, Any]:
        """The catalogue's file, size and model identity."""
        return {"db": str(self.store.path), "images": len(self), **self.store.meta().get("model", {})}

    def __len__(self) -> int:
        return self.store.count()

    @property
    def index_method(self) -> str:
        """How queries are answered for the current catalogue: "exact" or "hnsw"."""
        return self._current_index().method

    def pending(self, folder: str | Path) -> int:
        """How many images under ``folder`` are new or changed (what :meth:`update` would embed)."""
        return len(plan(self.store, _folder(folder))[0])

    def update(self, folder: str | Path, prune: bool = False, batch_size: int = 64,
               progress: Callable[[int], None] | None = None) -> SyncSummary:
        """Add new, re-embed changed and (``prune``) drop gone images under ``folder``; see :meth:`build`."""
        return sync_folder(self.store, self.model, _folder(folder), prune, batch_size, progress)

    def remove(self, paths: Sequence[str | Path]) -> int:
        """Delete the entries of these files, or of every file under these folders; returns how many went.

        Example:
            >>> SearchIndex.open("catalog.db").remove(["catalogue/old-season"])  # doctest: +SKIP
            240
        """
        stored = list(self.store.fingerprints())
        chosen: set[str] = set()
        for given in paths:
            target = os.path.abspath(given)
            chosen.update(p for p in stored if p == target or p.startswith(os.path.join(target, "")))
        return self.store.remove(sorted(chosen))

    def remove_missing(self, folder: str | Path | None = None) -> int:
        """Delete the entries of files that no longer exist (under ``folder``, or anywhere)."""
        return self.store.remove(missing_under(self.store, folder))

    def query(self, image: ImageSource, k: int = 10) -> list[SearchHit]:
        """The ``k`` catalogue images most similar to ``image`` (a path, PIL image or array), best first.

        Example:
            >>> [hit.path for hit in SearchIndex.open("catalog.db").query("red-shoe.jpg", k=2)]  # doctest: +SKIP
            ['/data/catalogue/shoes/0042.jpg', '/data/catalogue/shoes/0007.jpg']
        """
        return self.query_many([image], k)[0]

    def query_many(self, images: Sequence[ImageSource], k: int = 10) -> list[list[SearchHit]]:
        """:meth:`query` for several images (embedded in batches): one list of hits per image."""
        if k < 1:
            raise ConfigError(f"-k must be at least 1 (got {k})")
        sources = [Path(i) if isinstance(i, str) else i for i in images]
        return self.search_vectors(self.model.predictor.embed(sources)[0], k)

    def search_vectors(self, vectors: np.ndarray, k: int = 10) -> list[list[SearchHit]]:
        """Hits for query embeddings ``(Q, D)`` made by this catalogue's model (L2-normalised)."""
        index = self._current_index()
        scores, rows = index.search(vectors, k)
        return [[SearchHit(self._paths[r], float(s), rank) for rank, (s, r) in enumerate(zip(ss, rr), 1) if r >= 0]
                for ss, rr in zip(scores, rows)]

    def _current_index(self) -> VectorIndex:
        """The vector index of the catalogue's current revision (rebuilt after any change)."""
        if self._index is None or self.store.revision() != self._revision:
            revision, vectors, self._paths = self.store.snapshot()
            if not self._paths:
                raise CatalogError(f"{self.store.path}: the catalogue is empty; add images with "
                                   f"'sightkit search index BUNDLE FOLDER --db {self.store.path}'")
            self._index = VectorIndex(vectors, self.method, lambda: self.store.cached_index(revision),
                                      lambda data: self.store.cache_index(revision, data))
            self._revision = revision
        return self._index

    def close(self) -> None:
        """Close the catalogue file."""
        self.store.close()

    def abandon(self) -> None:
        """Close after a failed first indexing run: a catalogue this object created and left empty is deleted."""
        empty = self.store.count() == 0
        self.close()
        if self._is_new and empty:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.store.path}{suffix}").unlink(missing_ok=True)

    def __enter__(self) -> SearchIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _method(method: str) -> str:
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, not {method!r}")
    return method


def _folder(folder: str | Path) -> Path:
    if not Path(folder).is_dir():
        raise ConfigError(f"FOLDER {folder}: not a folder of images")
    return Path(folder)


def _load_model(bundle: str | Path) -> Classifier:
    from sightkit.tasks.classify.api import Classifier

    return Classifier.load(bundle)
