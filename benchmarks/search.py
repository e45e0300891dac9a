"""Similar-image search: retrieval quality on the CIFAR-10 subset and query latency at 100,000 items.

Quality. Each class's 500 images are shuffled (seed 0) and cut three ways, disjoint:
300 train a ``skcnn_small`` classifier (10% of them its validation split), 150 are indexed
(the catalogue, 1,500 images) and 50 are queries (500). A catalogue image is relevant to a
query when it has the query's class. Reported for k = 1, 5, 10:

- ``hit_rate@k``: the fraction of queries with at least one relevant image in the top k
  (often called recall@k in image-retrieval papers);
- ``precision@k``: the mean fraction of the top k that is relevant;
- ``recall@k``: the mean fraction of the query's 150 relevant catalogue images found in
  the top k (at most k/150);
- ``map``: mean average precision over the full ranking.

Latency. Two catalogues of 100,000 vectors of the model's embedding width: uniform random
unit vectors (the hard case for HNSW) and noisy copies of the real catalogue embeddings,
queried by real held-out images. Each is searched one query at a time with ``SearchIndex``'s
exact and HNSW back ends and with a plain numpy matrix product (the baseline, same process,
rounds interleaved); the HNSW results are compared with the exact top 10 (``hnsw_recall@10``)
at several search breadths. ``catalogue_file`` times opening a 100,000-item catalogue file
with its graph cached, to the first answer.

    cd benchmarks
    SIGHTKIT_THREADS=1 nice -n 5 python search.py --train-only   # model in runs/search/model (14-minute cap)
    SIGHTKIT_THREADS=1 nice -n 5 python search.py --bundle runs/search/model
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from _common import SHARED_DATA, write_result

RUN_DIR = Path(__file__).parent / "runs" / "search"
TRAIN, CATALOGUE, QUERIES = 300, 150, 50
KS = (1, 5, 10)


def split(data: Path, root: Path) -> dict[str, list[tuple[Path, str]]]:
    """Cut each class of ``data`` into train / catalogue / query lists; train is linked under ``root``."""
    parts: dict[str, list[tuple[Path, str]]] = {"train": [], "catalogue": [], "queries": []}
    for folder in sorted(p for p in data.iterdir() if p.is_dir()):
        files = sorted(folder.glob("*.jpg"))
        random.Random(0).shuffle(files)
        if len(files) < TRAIN + CATALOGUE + QUERIES:
            raise SystemExit(f"{folder}: {len(files)} images, need {TRAIN + CATALOGUE + QUERIES}")
        cut = {"train": files[:TRAIN], "catalogue": files[TRAIN:TRAIN + CATALOGUE],
               "queries": files[TRAIN + CATALOGUE:TRAIN + CATALOGUE + QUERIES]}
        for name, chosen in cut.items():
            parts[name] += [(path, folder.name) for path in chosen]
    for path, label in parts["train"]:
        (root / label).mkdir(parents=True, exist_ok=True)
        (root / label / path.name).symlink_to(path.resolve())
    return parts


def train(train_root: Path, epochs: int, minutes: float) -> tuple[Path, dict]:
    """Train skcnn_small on the train cut; the bundle is kept in benchmarks/runs/search/model."""
    from sightkit import Classifier

    start = time.perf_counter()
    clf = Classifier.train(train_root, "skcnn_small", out=RUN_DIR, epochs=epochs, max_minutes=minutes,
                           val_fraction=0.1, augment="light", batch_size=64, progress=False, status=lambda m: None)
    info = {"epochs_planned": epochs, "epochs_run": clf.meta["training"]["epochs_run"],
            "wall_s": round(time.perf_counter() - start, 1), "val_accuracy": (clf.report or {}).get("accuracy")}
    print("trained", info, flush=True)
    return Path(clf.path), info


def _link(items: list[tuple[Path, str]], root: Path) -> list[Path]:
    """Symlink ``items`` as ``root/<class>/<name>`` (the class is the parent folder's name); returns the links."""
    links = []
    for path, label in items:
        (root / label).mkdir(parents=True, exist_ok=True)
        link = root / label / path.name
        link.symlink_to(path.resolve())
        links.append(link)
    return links


def retrieval_quality(bundle: Path, catalogue: list[tuple[Path, str]], queries: list[tuple[Path, str]],
                      tmp: Path) -> tuple[dict, np.ndarray, np.ndarray]:
    """Index the catalogue cut with ``bundle`` and rank it for every query; raw pixels as the baseline.

    Returns the figures, the catalogue's embeddings and the queries' embeddings.
    """
    from sightkit.core.images import load_image
    from sightkit.tasks.search.api import SearchIndex
    from sightkit.tasks.search.evaluate import retrieval_metrics

    _link(catalogue, tmp / "catalogue")
    start = time.perf_counter()
    index = SearchIndex.build(bundle, tmp / "catalogue", tmp / "catalog.db")
    index_s = time.perf_counter() - start
    labels = [label for _, label in queries]
    start = time.perf_counter()
    query_vectors = index.model.embed([path for path, _ in queries])
    results = index.search_vectors(query_vectors, k=len(index))
    query_s = time.perf_counter() - start
    relevant = np.array([[Path(hit.path).parent.name == label for hit in hits] for hits, label in zip(results, labels)])
    catalogue_vectors = index.store.vectors()[0]
    index.close()

    def pixels(items: list[tuple[Path, str]]) -> np.ndarray:
        rows = np.stack([np.asarray(load_image(p, mode="RGB"), np.float32).ravel() for p, _ in items])
        rows -= rows.mean(axis=1, keepdims=True)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    cat_labels = np.array([label for _, label in catalogue])
    order = np.argsort(-(pixels(queries) @ pixels(catalogue).T), axis=1)
    raw = cat_labels[order] == np.array(labels)[:, None]
    figures = {"relevant": "a catalogue image of the query's class", "catalogue": len(catalogue),
               "queries": len(queries), "embedding": retrieval_metrics(relevant, CATALOGUE, KS),
               "raw_pixels_baseline": retrieval_metrics(raw, CATALOGUE, KS),
               "index_s": round(index_s, 1), "query_s_per_image": round(query_s / len(queries), 4)}
    return figures, catalogue_vectors, query_vectors


def _per_query_ms(search, queries: np.ndarray) -> float:
    start = time.perf_counter()
    for query in queries:
        search(query)
    return (time.perf_counter() - start) * 1000 / len(queries)


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def vector_sets(catalogue: np.ndarray, queries: np.ndarray, items: int, n_queries: int) -> dict:
    """Two ``items``-row catalogues to time: uniform random unit vectors (the hard case for HNSW)
    and copies of the real catalogue embeddings moved by noise of norm ~0.2, queried by real held-out images."""
    rng = np.random.default_rng(0)
    dim = catalogue.shape[1]
    uniform = _unit(rng.standard_normal((items, dim)))
    near = uniform[rng.choice(items, n_queries, replace=False)] + rng.standard_normal((n_queries, dim)) * 0.1 / dim ** 0.5
    copies = catalogue[rng.integers(0, len(catalogue), items)] + rng.standard_normal((items, dim)) * 0.2 / dim ** 0.5
    return {"random": (uniform, _unit(near), f"random unit vectors; queries: {n_queries} of them moved by noise of "
                                             "norm ~0.1"),
            "catalogue_copies": (_unit(copies), queries[:n_queries],
                                 f"the {len(catalogue)} real catalogue embeddings, each copied ~{items // len(catalogue)} "
                                 f"times with noise of norm ~0.2; queries: {n_queries} real held-out query images")}


def _per_query_ms(search, queries: np.ndarray) -> float:
    start = time.perf_counter()
    for query in queries:
        search(query)
    return (time.perf_counter() - start) * 1000 / len(queries)


def query_latency(vectors: np.ndarray, queries: np.ndarray, rounds: int = 3) -> tuple[dict, bytes]:
    """Per-query latency of exact and HNSW search vs a numpy matrix product, HNSW recall of the exact
    top 10 at several search breadths; also returns the serialised HNSW graph."""
    from sightkit.tasks.search.index import HNSW_EF_SEARCH, VectorIndex

    def numpy_top10(query: np.ndarray) -> np.ndarray:
        scores = vectors @ query
        rows = np.argpartition(-scores, 10)[:10]
        return rows[np.argsort(-scores[rows])]

    exact = VectorIndex(vectors, "exact")
    saved: list[bytes] = []
    start = time.perf_counter()
    hnsw = VectorIndex(vectors, "hnsw", save_index=saved.append)
    build_s = time.perf_counter() - start
    times: dict[str, list[float]] = {"numpy": [], "exact": [], "hnsw": []}
    for _ in range(rounds):  # interleaved, so load from other processes hits all three alike
        times["numpy"].append(_per_query_ms(numpy_top10, queries))
        times["exact"].append(_per_query_ms(lambda q: exact.search(q, 10), queries))
        times["hnsw"].append(_per_query_ms(lambda q: hnsw.search(q, 10), queries))
    ms = {name: round(statistics.median(values), 3) for name, values in times.items()}
    truth = [set(numpy_top10(q).tolist()) for q in queries]
    breadths = {}
    for ef in (32, 64, HNSW_EF_SEARCH, 256):
        index = VectorIndex(vectors, "hnsw", load_index=lambda: saved[0], ef_search=ef)
        found = [set(index.search(q, 10)[1][0].tolist()) for q in queries]
        breadths[ef] = {"recall@10": round(float(np.mean([len(t & f) / 10 for t, f in zip(truth, found)])), 4),
                        "ms_per_query": round(_per_query_ms(lambda q: index.search(q, 10), queries), 3)}
    return {"ms_per_query": ms, "speedup_vs_numpy": {name: round(ms["numpy"] / ms[name], 2) for name in ms},
            "hnsw_ef_search": HNSW_EF_SEARCH, "hnsw_build_s": round(build_s, 1),
            "hnsw_recall@10": breadths[HNSW_EF_SEARCH]["recall@10"], "hnsw_by_ef_search": breadths}, saved[0]


def catalogue_open(vectors: np.ndarray, query: np.ndarray, graph: bytes, tmp: Path) -> dict:
    """Seconds from opening a catalogue file of ``vectors`` (its HNSW graph cached) to the first answer."""
    from sightkit.tasks.search.api import SearchIndex
    from sightkit.tasks.search.store import CatalogStore, Item

    store = CatalogStore.open(tmp / "latency.db", create=True, meta={"model": {"bundle": "none"}})
    for start in range(0, len(vectors), 10_000):
        store.put([Item(f"/catalogue/{i}.jpg", 1, 1, vectors[i]) for i in range(start, min(len(vectors), start + 10_000))])
    store.cache_index(store.revision(), graph)
    store.close()
    start = time.perf_counter()
    with SearchIndex.open(tmp / "latency.db", with_model=False) as catalogue:
        catalogue.search_vectors(query[None], 10)
        method = catalogue.index_method
    return {"first_query_s": round(time.perf_counter() - start, 2), "method": method,
            "note": "opening the file, reading the vectors and the cached HNSW graph, one query; after a change "
                    "the first query also rebuilds the graph (hnsw_build_s)"}


def _training_record(bundle: Path) -> dict:
    """What the bundle's own record says about its training run."""
    from sightkit.core.bundle import read_meta

    meta = read_meta(bundle)
    run = meta.get("training", {})
    return {"bundle": str(bundle), "model": (meta.get("architecture") or {}).get("name"),
            "epochs_planned": (run.get("config") or {}).get("epochs"), "epochs_run": run.get("epochs_run"),
            "stopped": run.get("stopped"), "duration_s": run.get("duration_s"), "splits": run.get("splits"),
            "metrics": meta.get("metrics")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=SHARED_DATA / "cifar10_subset")
    parser.add_argument("--bundle", type=Path, help="a classify bundle trained on the train cut (skips training)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--minutes", type=float, default=14.0, help="wall-time cap on training")
    parser.add_argument("--items", type=int, default=100_000, help="indexed vectors for the latency figure")
    parser.add_argument("--queries", type=int, default=200, help="queries per latency round")
    parser.add_argument("--train-only", action="store_true", help="train the model and stop")
    args = parser.parse_args()
    if not args.data.is_dir():
        raise SystemExit(f"{args.data} not found (needs ../shared/data)")
    from sightkit.core.threads import prepare_process

    prepare_process()  # before torch loads: passive waiting threads on a busy machine

    with tempfile.TemporaryDirectory() as tmp:
        parts = split(args.data, Path(tmp) / "train")
        bundle = args.bundle
        if bundle is None:
            bundle, _ = train(Path(tmp) / "train", args.epochs, args.minutes)
        if args.train_only:
            return
        training = _training_record(bundle)
        quality, catalogue, queries = retrieval_quality(bundle, parts["catalogue"], parts["queries"], Path(tmp))
        print("quality", quality, flush=True)
        latency: dict = {"items": args.items, "dim": int(catalogue.shape[1]), "k": 10, "rounds": 3,
                         "queries_per_round": args.queries}
        for name, (vectors, probes, description) in vector_sets(catalogue, queries, args.items, args.queries).items():
            latency[name], graph = query_latency(vectors, probes)
            latency[name]["vectors"] = description
            print(name, latency[name], flush=True)
        latency["catalogue_file"] = catalogue_open(vectors, probes[0], graph, Path(tmp))
    write_result("search", {"data": str(args.data), "threads": os.environ.get("SIGHTKIT_THREADS"),
                            "split": {"train_per_class": TRAIN, "catalogue_per_class": CATALOGUE,
                                      "queries_per_class": QUERIES, "seed": 0},
                            "training": training, "quality": quality, "latency": latency})


if __name__ == "__main__":
    main()
