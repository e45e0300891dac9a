"""Load and soak of ``sightkit serve`` on 127.0.0.1, against direct calls in the same run.

1. Direct baseline, in this process, on the same images: ``Classifier.predict`` one image
   per call (what a user without a server does) and all images in one call (batched);
   ``FaceGallery.identify`` one image per call and ``identify_many``.
2. ``--requests`` classify requests, ``--concurrency`` at once (asyncio + httpx; 3 rounds after a
   warm-up round, the median round reported): errors,
   p50/p95 latency, requests/s and the ratio to both direct figures; labels compared with
   the direct ones.
3. The same for face identify (a gallery of 10 AT&T people, one image each; probes are
   their other images; scikit-image's astronaut when ../shared/data is absent).
4. ``--soak-minutes`` of mixed requests (classify, identify, upscale of small images,
   models, healthz) from ``--soak-concurrency`` clients: the server process's RSS after a
   warm-up and at the end, sampled in between.

The server runs in its own process (``sightkit serve``), the load generator in this one:
on a small machine they share the cores, so the ratios include the client's own work.

    nice -n 19 python benchmarks/serve_load.py                       # 200 x 200, 10-minute soak
    nice -n 19 python benchmarks/serve_load.py --requests 50 --soak-minutes 0
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _common import RESULTS, SHARED_DATA, write_result

TMP = RESULTS / "tmp" / "serve"
PLANTS = SHARED_DATA / "plantvillage_small"
ATT = SHARED_DATA / "faces" / "att_faces"
GALLERY_PEOPLE = 10
KEY = "bench-key-0123"
REPEATS = 3  # direct passes and load rounds; the median is reported (shared, noisy machines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=200, help="requests per load test")
    parser.add_argument("--concurrency", type=int, default=200, help="requests in flight at once")
    parser.add_argument("--soak-minutes", type=float, default=10.0, help="0 skips the soak")
    parser.add_argument("--soak-concurrency", type=int, default=8)
    parser.add_argument("--upscaler", default="default-x2")
    args = parser.parse_args()
    if not PLANTS.is_dir():
        raise SystemExit(f"{PLANTS} not found (needs ../shared/data)")
    TMP.mkdir(parents=True, exist_ok=True)
    bundle = _bundle()
    gallery, probes, truth = _gallery()
    images = _plant_images(args.requests)

    server = _Server(bundle, gallery, args.upscaler)
    try:
        server.wait_ready()
        direct = {"classify": _direct_classify(bundle, images), "identify": _direct_identify(gallery, probes, truth)}
        face_probes = [probes[i % len(probes)] for i in range(args.requests)]
        load = {
            "classify": asyncio.run(_load(server.url, "/v1/classify", images, args.concurrency,
                                          direct["classify"].pop("labels"), lambda a: a["label"])),
            "identify": asyncio.run(_load(server.url, "/v1/faces/identify", face_probes, args.concurrency,
                                          [direct["identify"]["names"][i % len(probes)]
                                           for i in range(args.requests)],
                                          lambda a: a["faces"][0]["name"] if a["faces"] else None)),
        }
        direct["identify"].pop("names")
        for task in load:
            for mode in ("per_image", "batched"):
                load[task][f"ratio_vs_direct_{mode}"] = round(
                    load[task]["requests_per_s"] / direct[task][f"{mode}_images_per_s"], 3)
        server_rss = server.rss_mb()
        write_result("serve_load", {
            "settings": {"requests": args.requests, "concurrency": args.concurrency, "server": server.command,
                         "classifier": "skcnn_small 64 px, 2 epochs on plantvillage_small (5 classes)",
                         "classify_images": f"{len(images)} plantvillage_small JPEGs (256x256)",
                         "gallery": f"{GALLERY_PEOPLE} AT&T people, 1 image each (crops=True)"
                         if ATT.is_dir() else "astronaut", "identify_probes": f"{len(probes)} images, cycled"},
            "goal": "server throughput >= 0.8 x direct predict, 0 errors",
            "ratio_note": "ratio_vs_direct_per_image: server requests/s over Classifier.predict (or "
                          "FaceGallery.identify) called once per image in this process; ratio_vs_direct_batched: "
                          "over one call with all images. The load generator shares the CPU with the server.",
            "direct": direct, "load": load, "server_rss_mb_after_load": server_rss})
        if args.soak_minutes > 0:
            soak = asyncio.run(_soak(server, images, probes, args.soak_minutes, args.soak_concurrency))
            write_result("serve_soak", {"settings": {"minutes": args.soak_minutes,
                                                      "concurrency": args.soak_concurrency,
                                                      "server": server.command, "upscaler": args.upscaler},
                                        "goal": "RSS growth <= 10% from after warm-up to the end, 0 errors",
                                        **soak})
    finally:
        server.stop()


# -- data ------------------------------------------------------------------------------------
def _bundle() -> Path:
    """A skcnn_small classifier on plantvillage_small (64 px, 2 epochs), trained once into tmp/."""
    run = TMP / "plant_run"
    found = sorted(run.rglob("bundle.json")) if run.exists() else []
    if found:
        return found[0].parent
    from sightkit import Classifier

    print("training the benchmark classifier once (plantvillage_small, 2 epochs) ...", file=sys.stderr)
    clf = Classifier.train(PLANTS, model="skcnn_small", epochs=2, img_size=64, out=run, progress=False, seed=0)
    return clf.path


def _plant_images(n: int) -> list[Path]:
    files = sorted(p for p in PLANTS.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    random.Random(0).shuffle(files)
    return [files[i % len(files)] for i in range(n)]


def _gallery() -> tuple[Path, list[Path], list[str]]:
    """A gallery of 10 people (built once into tmp/), and probe images with their true names."""
    from sightkit.tasks.face.api import FaceGallery
    from sightkit.tasks.face.pipeline import FaceOptions

    if ATT.is_dir():
        people = [ATT / f"s{i}" for i in range(1, GALLERY_PEOPLE + 1)]
        enroll = {p.name: [p / "1.pgm"] for p in people}
        probes = [p / f"{k}.pgm" for k in range(2, 11) for p in people]
        truth = [p.parent.name for p in probes]
        options = FaceOptions(crops=True)
    else:  # no shared data: one person, the astronaut, probed with her own photo
        from PIL import Image
        from skimage import data

        photo = TMP / "astronaut.png"
        Image.fromarray(data.astronaut()).save(photo)
        enroll, probes, truth, options = {"eileen": [photo]}, [photo], ["eileen"], FaceOptions()
    path = TMP / f"gallery_{'att' if ATT.is_dir() else 'astronaut'}.db"
    if not path.exists():
        with FaceGallery(path, options=options) as gallery:
            gallery.enroll_many(enroll)
    return path, probes, truth


# -- direct baseline -------------------------------------------------------------------------
def _direct_classify(bundle: Path, images: list[Path]) -> dict[str, Any]:
    """Images/s of ``Classifier.predict``: one call per image, and one call for all; median of REPEATS."""
    from sightkit import Classifier

    clf = Classifier.load(bundle)
    labels = [clf.predict(path)[0].label for path in images]  # warm-up: thread choice per batch shape
    batched = [p.label for p in clf.predict(images)]
    per_image = _median_rate(len(images), lambda: [clf.predict(path) for path in images])
    batch = _median_rate(len(images), lambda: clf.predict(images))
    return {"images": len(images), "per_image_images_per_s": per_image, "batched_images_per_s": batch,
            "per_image_agrees_with_batched": labels == batched, "labels": labels}


def _direct_identify(gallery_path: Path, probes: list[Path], truth: list[str]) -> dict[str, Any]:
    """Images/s of ``FaceGallery.identify`` per image and of ``identify_many``; median of REPEATS."""
    from sightkit.tasks.face.api import FaceGallery

    with FaceGallery(gallery_path, create=False) as gallery:
        found = [gallery.identify(p, top_k=3) for p in probes]  # warm-up
        gallery.identify_many(probes, top_k=3)
        per_image = _median_rate(len(probes), lambda: [gallery.identify(p, top_k=3) for p in probes])
        batch = _median_rate(len(probes), lambda: gallery.identify_many(probes, top_k=3))
    names = [faces[0].name if faces else None for faces in found]
    return {"images": len(probes), "per_image_images_per_s": per_image, "batched_images_per_s": batch,
            "correct": sum(n == t for n, t in zip(names, truth)), "names": names}


def _median_rate(n: int, work: Any) -> float:
    rates = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        work()
        rates.append(n / (time.perf_counter() - start))
    return round(statistics.median(rates), 1)


# -- load ------------------------------------------------------------------------------------
async def _load(url: str, route: str, images: list[Path], concurrency: int, expected: list[Any],
                answer_of: Any) -> dict[str, Any]:
    """All images sent at once (``concurrency`` in flight), REPEATS rounds after a warm-up round.

    Latency per request and throughput per round; the round of median throughput is reported,
    errors are summed over all rounds.
    """
    import httpx

    payloads = [(p.name, p.read_bytes()) for p in images]
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": KEY}, limits=limits, timeout=300) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> tuple[float, int, Any]:
            name, content = payloads[index]
            async with gate:
                start = time.perf_counter()
                response = await client.post(route, files={"file": (name, content)}, data={"top_k": "3"})
                latency = time.perf_counter() - start
            answer = answer_of(response.json()) if response.status_code == 200 else None
            return latency, response.status_code, answer

        await asyncio.gather(*(one(i) for i in range(len(payloads))))  # warm-up: connections, batch shapes
        rounds = []
        for _ in range(REPEATS):
            start = time.perf_counter()
            results = await asyncio.gather(*(one(i) for i in range(len(payloads))))
            rounds.append((time.perf_counter() - start, results))
    statuses: dict[str, int] = {}
    for _, results in rounds:
        for _, status, _ in results:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
    summaries = []
    for wall, results in rounds:
        latencies = sorted(r[0] for r in results)
        summaries.append({"wall_s": round(wall, 2), "requests_per_s": round(len(results) / wall, 1),
                          "latency_ms": {"p50": _ms(_pct(latencies, 50)), "p95": _ms(_pct(latencies, 95)),
                                         "max": _ms(latencies[-1])},
                          "errors": sum(r[1] != 200 for r in results),
                          "answers_equal_direct": sum(r[2] == e for r, e in zip(results, expected))})
    median = sorted(summaries, key=lambda r: r["requests_per_s"])[len(summaries) // 2]
    return {"requests": len(payloads), "concurrency": concurrency, "rounds": len(rounds),
            "errors": sum(r["errors"] for r in summaries), "statuses_all_rounds": statuses,
            "median_round": median, "requests_per_s": median["requests_per_s"],
            "latency_ms": median["latency_ms"], "all_rounds": summaries}


# -- soak ------------------------------------------------------------------------------------
async def _soak(server: _Server, images: list[Path], probes: list[Path], minutes: float,
                concurrency: int) -> dict[str, Any]:
    """Mixed requests for ``minutes`` after a warm-up; RSS at start, end and every 30 s."""
    import httpx
    from PIL import Image

    small = []
    for path in images[:10]:
        buffer = __import__("io").BytesIO()
        Image.open(path).convert("RGB").resize((64, 64)).save(buffer, format="PNG")
        small.append(("small.png", buffer.getvalue()))
    plants = [(p.name, p.read_bytes()) for p in images]
    faces = [(p.name, p.read_bytes()) for p in probes]
    kinds = [("classify", "POST", "/v1/classify", plants), ("identify", "POST", "/v1/faces/identify", faces),
             ("upscale", "POST", "/v1/enhance/upscale", small), ("models", "GET", "/v1/models", None),
             ("healthz", "GET", "/healthz", None)]
    stats = {k[0]: {"requests": 0, "errors": 0, "latencies": []} for k in kinds}
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=server.url, headers={"X-API-Key": KEY}, limits=limits,
                                 timeout=120) as client:

        async def worker(seed: int, until: float, record: bool) -> None:
            rng = random.Random(seed)
            while time.monotonic() < until:
                kind, method, route, payloads = kinds[rng.randrange(len(kinds))]
                start = time.perf_counter()
                try:
                    if payloads is None:
                        response = await client.request(method, route)
                    else:
                        name, content = payloads[rng.randrange(len(payloads))]
                        response = await client.post(route, files={"file": (name, content)})
                    ok = response.status_code == 200
                except httpx.HTTPError:
                    ok = False
                if record:
                    entry = stats[kind]
                    entry["requests"] += 1
                    entry["errors"] += not ok
                    entry["latencies"].append(time.perf_counter() - start)

        warm_s = min(60.0, max(10.0, minutes * 6))
        await asyncio.gather(*(worker(i, time.monotonic() + warm_s, False) for i in range(concurrency)))
        rss_start = server.rss_mb()
        samples = [(0.0, rss_start)]
        started = time.monotonic()
        until = started + minutes * 60
        tasks = [asyncio.create_task(worker(100 + i, until, True)) for i in range(concurrency)]
        while time.monotonic() < until:
            await asyncio.sleep(min(30.0, max(0.1, until - time.monotonic())))
            samples.append((round(time.monotonic() - started, 1), server.rss_mb()))
        await asyncio.gather(*tasks)
    rss_end = server.rss_mb()
    per_kind = {}
    for kind, entry in stats.items():
        lat = sorted(entry.pop("latencies"))
        per_kind[kind] = {**entry, "p50_ms": _ms(_pct(lat, 50)) if lat else None,
                          "p95_ms": _ms(_pct(lat, 95)) if lat else None}
    total = sum(e["requests"] for e in per_kind.values())
    return {"warm_up_s": warm_s, "measured_s": round(time.monotonic() - started, 1), "requests": total,
            "errors": sum(e["errors"] for e in per_kind.values()), "requests_per_s": round(total / (minutes * 60), 1),
            "per_kind": per_kind, "rss_mb_start": rss_start, "rss_mb_end": rss_end,
            "rss_growth_pct": round(100 * (rss_end - rss_start) / rss_start, 2),
            "rss_mb_samples": [{"t_s": t, "rss_mb": m} for t, m in samples]}


# -- server process --------------------------------------------------------------------------
class _Server:
    """``sightkit serve`` in a subprocess on a free 127.0.0.1 port, with an API key."""

    def __init__(self, bundle: Path, gallery: Path, upscaler: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.command = [sys.executable, "-m", "sightkit", "serve", "--classifier", f"plant={bundle}",
                        "--gallery", str(gallery), "--upscaler", upscaler, "--host", "127.0.0.1",
                        "--port", str(self.port)]
        env = {**os.environ, "SIGHTKIT_API_KEY": KEY}  # not on the command line, where ps would show it
        self.log = (TMP / "server.log").open("w")
        self.process = subprocess.Popen(self.command, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 180.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited with {self.process.returncode}; see {TMP / 'server.log'}")
            try:
                if httpx.get(self.url + "/v1/models", headers={"X-API-Key": KEY}, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"the server did not answer within {timeout:.0f} s; see {TMP / 'server.log'}")

    def rss_mb(self) -> float:
        """Resident memory of the server process and its children, in MiB (from /proc)."""
        pids = [self.process.pid]
        try:
            children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
            pids += [int(c) for c in children]
        except OSError:
            pass
        total_kb = 0
        for pid in pids:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        return round(total_kb / 1024, 1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def _pct(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 1)


if __name__ == "__main__":
    main()
