"""Load and soak of ``sightkit serve`` on 127.0.0.1, against direct calls in the same run.

1. ``--requests`` classify requests, ``--concurrency`` at once (asyncio + httpx): errors,
   p50/p95 latency, requests/s, and answers compared with direct calls. Three rounds after
   a warm-up round; before each round, in this process and on the same images, the direct
   baseline: ``Classifier.predict`` once per image (what a user without a server does) and
   once for all images (batched). Ratios are per round, the median is reported.
2. The same for face identify against ``FaceGallery.identify`` / ``identify_many`` (a gallery
   of 10 AT&T people, one image each; probes are their other images; scikit-image's
   astronaut when ../shared/data is absent).
3. ``--soak-minutes`` of mixed requests (classify, identify, upscale of small images,
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
import signal
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

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `finally` stops the server
    server = _Server(bundle, gallery, args.upscaler)
    try:
        server.wait_ready()
        from sightkit import Classifier
        from sightkit.tasks.face.api import FaceGallery

        clf = Classifier.load(bundle)
        labels = [clf.predict(path)[0].label for path in images]
        face_probes = [probes[i % len(probes)] for i in range(args.requests)]
        with FaceGallery(gallery, create=False) as faces:
            found = [faces.identify(p, top_k=3) for p in probes]
            names = [f[0].name if f else None for f in found]
            direct = {
                "classify": _Direct(len(images), lambda: [clf.predict(path) for path in images],
                                    lambda: clf.predict(images)),
                "identify": _Direct(len(probes), lambda: [faces.identify(p, top_k=3) for p in probes],
                                    lambda: faces.identify_many(probes, top_k=3))}
            load = {
                "classify": asyncio.run(_compare(server.url, "/v1/classify", images, args.concurrency, labels,
                                                 lambda a: a["label"], direct["classify"], server.cpu_s)),
                "identify": asyncio.run(_compare(server.url, "/v1/faces/identify", face_probes, args.concurrency,
                                                 [names[i % len(probes)] for i in range(args.requests)],
                                                 lambda a: a["faces"][0]["name"] if a["faces"] else None,
                                                 direct["identify"], server.cpu_s))}
        load["classify"]["direct_per_image_agrees_with_batched"] = labels == [p.label for p in clf.predict(images)]
        load["identify"]["direct_correct"] = f"{sum(n == t for n, t in zip(names, truth))}/{len(probes)}"
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
                          "over one call with all images. Each load round follows its own direct passes and the "
                          "median of the per-round ratios is reported (the machine is shared). The load generator "
                          "shares the CPU with the server.",
            "load": load, "server_rss_mb_after_load": server_rss})
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
class _Direct:
    """One task's direct calls in this process, timed: one call per image, and one call for all."""

    def __init__(self, n: int, per_image: Any, batched: Any) -> None:
        self.n, self.per_image, self.batched = n, per_image, batched
        batched()  # warm-up: thread choice per batch shape (the per-image shape was warmed by the caller)

    def rates(self) -> tuple[float, float, float]:
        """Images/s of (per-image calls, one batched call), and CPU seconds of the per-image calls."""
        start, cpu = time.perf_counter(), time.process_time()
        self.per_image()
        middle, cpu = time.perf_counter(), time.process_time() - cpu
        self.batched()
        return self.n / (middle - start), self.n / (time.perf_counter() - middle), cpu


# -- load ------------------------------------------------------------------------------------
async def _compare(url: str, route: str, images: list[Path], concurrency: int, expected: list[Any],
                   answer_of: Any, direct: _Direct, server_cpu: Any) -> dict[str, Any]:
    """REPEATS rounds of (direct passes, then all images sent with ``concurrency`` in flight), after a warm-up round.

    Latency per request and throughput per round; the ratios are per round (against that
    round's direct passes) and their median is reported; errors are summed over all rounds.
    CPU seconds of the server process and of this one (the load generator) are kept per round.
    """
    import httpx

    payloads = [(p.name, p.read_bytes()) for p in images]
    # idle connections dropped before uvicorn's 5 s keep-alive ends (the direct passes take longer), else a
    # request on a connection the server is closing fails with ReadError
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency, keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=url, headers={"X-API-Key": KEY}, limits=limits, timeout=300) as client:
        gate = asyncio.Semaphore(concurrency)

        async def one(index: int) -> tuple[float, int, Any]:
            name, content = payloads[index]
            async with gate:
                start = time.perf_counter()
                try:
                    response = await client.post(route, files={"file": (name, content)}, data={"top_k": "3"})
                except httpx.TransportError:  # counted as an error (status 0), not a crash of the benchmark
                    return time.perf_counter() - start, 0, None
                latency = time.perf_counter() - start
            answer = answer_of(response.json()) if response.status_code == 200 else None
            return latency, response.status_code, answer

        await asyncio.gather(*(one(i) for i in range(len(payloads))))  # warm-up: connections, batch shapes
        rounds = []
        for _ in range(REPEATS):
            per_image, batched, direct_cpu = direct.rates()  # blocks the loop on purpose: nothing is in flight
            start, cpu, served = time.perf_counter(), time.process_time(), server_cpu()
            results = await asyncio.gather(*(one(i) for i in range(len(payloads))))
            cpus = (round(server_cpu() - served, 2), round(time.process_time() - cpu, 2))
            rounds.append((per_image, batched, time.perf_counter() - start, results, cpus + (direct_cpu,)))
    statuses: dict[str, int] = {}
    summaries = []
    for per_image, batched, wall, results, (cpu_server, cpu_client, cpu_direct) in rounds:
        for _, status, _ in results:
            statuses[str(status)] = statuses.get(str(status), 0) + 1
        latencies = sorted(r[0] for r in results)
        rate = len(results) / wall
        summaries.append({"requests_per_s": round(rate, 1), "wall_s": round(wall, 2),
                          "cpu_s": {"server": cpu_server, "load_generator": cpu_client,
                                    "direct_per_image": round(cpu_direct, 2)},
                          "cpu_ratio_vs_direct_per_image": round(
                              (cpu_direct / direct.n) / (cpu_server / len(results)), 3),
                          "latency_ms": {"p50": _ms(_pct(latencies, 50)), "p95": _ms(_pct(latencies, 95)),
                                         "max": _ms(latencies[-1])},
                          "errors": sum(r[1] != 200 for r in results),
                          "answers_equal_direct": sum(r[2] == e for r, e in zip(results, expected)),
                          "direct_per_image_images_per_s": round(per_image, 1),
                          "direct_batched_images_per_s": round(batched, 1),
                          "ratio_vs_direct_per_image": round(rate / per_image, 3),
                          "ratio_vs_direct_batched": round(rate / batched, 3)})
    median_round = sorted(summaries, key=lambda r: r["requests_per_s"])[len(summaries) // 2]

    def median(key: str) -> float:
        return round(statistics.median(r[key] for r in summaries), 3)

    return {"requests": len(payloads), "concurrency": concurrency, "rounds": len(rounds),
            "errors": sum(r["errors"] for r in summaries), "statuses_all_rounds": statuses,
            "requests_per_s": median("requests_per_s"), "latency_ms": median_round["latency_ms"],
            "direct_per_image_images_per_s": median("direct_per_image_images_per_s"),
            "direct_batched_images_per_s": median("direct_batched_images_per_s"),
            "ratio_vs_direct_per_image": median("ratio_vs_direct_per_image"),
            "ratio_vs_direct_batched": median("ratio_vs_direct_batched"),
            "cpu_ratio_vs_direct_per_image": median("cpu_ratio_vs_direct_per_image"),
            "answers_equal_direct_worst_round": f"{min(r['answers_equal_direct'] for r in summaries)}/{len(payloads)}",
            "all_rounds": summaries}


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
    limits = httpx.Limits(max_connections=concurrency, keepalive_expiry=2.0)
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
        self.log = (TMP / f"server_{self.port}.log").open("w")
        self.process = subprocess.Popen(self.command, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def wait_ready(self, timeout: float = 180.0) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"the server exited with {self.process.returncode}; see {self.log.name}")
            try:
                if httpx.get(self.url + "/v1/models", headers={"X-API-Key": KEY}, timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise SystemExit(f"the server did not answer within {timeout:.0f} s; see {self.log.name}")

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

    def cpu_s(self) -> float:
        """CPU seconds (user + system) the server process has used so far, from /proc."""
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

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
