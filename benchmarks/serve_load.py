"""``ganforge serve`` under load: requests/s and p50/p95 latency of ``GET /api/generate`` at 1, 8
and 32 concurrent clients on loopback, with requests that arrive together batched (the default,
``--max-batch 32``) and without (``--max-batch 1``).

The server is ``ganforge serve`` in its own process on 127.0.0.1 (this script never talks to any
other address); the clients are one asyncio process (httpx) beside it, so on a small machine the
two share the cores: the CPU, the thread count and the load (``uptime``) before and after are
recorded with every figure. Each level is bounded by ``--max-requests`` and ``--max-seconds``;
the script stops by itself.

    python benchmarks/serve_load.py [RUN] [--model mnist-fast|dcgan64] [--clients 1,8,32] [--max-requests 600]
                                    [--max-seconds 20] [--batches 32,1] [--threads 1]

RUN: a sampling run; default: ``--model``'s networks (mnist-fast: DCGAN 28 px; dcgan64: DCGAN
64 px, width 64) after one training step, made in a temporary folder (speed does not depend on
the weights' values). The generator alone is timed too (1 and 32 images per pass).
Output: JSON on stdout and in benchmarks/results/serve_load_MODEL.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from threads import _cpu  # noqa: E402  (the CPU model and its vector extensions)

HOST = "127.0.0.1"  # loopback only, whatever the arguments
ROOT = Path(__file__).resolve().parents[1]


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


MODELS = {  # --model: the networks of a default run (weights after one step; speed ignores them)
    "mnist-fast": dict(preset="mnist-fast"),  # DCGAN, 28 px, width 64: the demo
    "dcgan64": dict(preset="gan", model="dcgan", size=64, width=64, z_dim=100),  # celeba64-dcgan's shape
}


def make_run(folder: Path, model: str) -> Path:
    import ganforge

    kw = dict(MODELS[model])
    run = ganforge.train(kw.pop("preset"), data="mnist-mini", max_steps=1, out=folder / model,
                         quiet=True, device="cpu", threads=1, **kw)
    return run.path


def forward_ms(run: Path, threads: int, reps: int = 10) -> dict:
    """The generator alone, in this process: ms per image rendered one at a time and 32 at once
    (what batching can win at most, before HTTP and PNG costs)."""
    import torch

    import ganforge

    torch.set_num_threads(threads)
    s = ganforge.load(run, device="cpu")
    out = {}
    for n in (1, 32):
        z = torch.randn(n, s.z_dim)
        s.from_latents(z)
        t = time.perf_counter()
        for _ in range(reps):
            s.from_latents(z)
        out[f"batch_{n}_ms_per_image"] = round((time.perf_counter() - t) / reps / n * 1000, 3)
    return out


def start_server(run: Path, port: int, max_batch: int, threads: int) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    cmd = [sys.executable, "-m", "ganforge", "serve", str(run), "--host", HOST, "--port", str(port),
           "--device", "cpu", "--threads", str(threads), "--max-batch", str(max_batch)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


async def wait_up(base: str, proc: subprocess.Popen, limit_s: float = 120) -> None:
    import httpx

    t0 = time.monotonic()
    async with httpx.AsyncClient(base_url=base) as c:
        while time.monotonic() - t0 < limit_s:
            if proc.poll() is not None:
                raise SystemExit(f"the server stopped: {proc.stderr.read() if proc.stderr else ''}")
            try:
                if (await c.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"the server did not answer /healthz within {limit_s:.0f} s")


async def level(base: str, run: str, clients: int, max_requests: int, max_seconds: float,
                warmup: int, path: str = "/api/generate") -> dict:
    """``clients`` loops each sending one request after the other until ``max_requests`` are
    done or ``max_seconds`` have passed: requests/s and latency percentiles."""
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as c:
        for i in range(warmup):  # the model loaded and the first passes made before timing
            (await c.get("/api/generate", params={"run": run, "seed": i})).raise_for_status()
        before = (await c.get("/healthz")).json()["batching"].get(run, {"passes": 0, "requests": 0})
        latencies: list[float] = []
        errors = 0
        sent = 0
        t0 = time.perf_counter()
        stop = t0 + max_seconds

        async def client(k: int) -> None:
            nonlocal sent, errors
            while sent < max_requests and time.perf_counter() < stop:
                sent += 1
                seed = 1000 * k + sent
                t = time.perf_counter()
                r = await c.get(path, params={"run": run, "seed": seed})
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors += 1

        await asyncio.gather(*(client(k) for k in range(clients)))
        wall = time.perf_counter() - t0
        after = (await c.get("/healthz")).json()["batching"].get(run, {"passes": 0, "requests": 0})
    lat = sorted(latencies)
    pct = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else lat * 99
    passes = after["passes"] - before["passes"]
    per_pass = round((after["requests"] - before["requests"]) / passes, 2) if passes else None
    return {"path": path, "clients": clients, "requests": len(lat), "errors": errors,
            "seconds": round(wall, 2), "requests_per_pass": per_pass,
            "requests_per_s": round(len(lat) / wall, 1), "p50_ms": round(pct[49] * 1000, 1),
            "p95_ms": round(pct[94] * 1000, 1), "max_ms": round(lat[-1] * 1000, 1)}


async def bench(run: Path, args: argparse.Namespace) -> list[dict]:
    out = []
    for max_batch in args.batches:
        port = free_port()
        proc = start_server(run, port, max_batch, args.threads)
        base = f"http://{HOST}:{port}"
        try:
            await wait_up(base, proc)
            for clients in args.clients:
                row = await level(base, run.name, clients, args.max_requests, args.max_seconds, args.warmup)
                row.update(max_batch=max_batch, load_after=os.getloadavg()[0])
                print(json.dumps(row), file=sys.stderr)
                out.append(row)
            if max_batch == args.batches[0]:  # the HTTP stack alone, no model: the ceiling here
                row = await level(base, run.name, max(args.clients), args.max_requests, args.max_seconds,
                                  0, path="/healthz")
                row.update(max_batch=None, load_after=os.getloadavg()[0])
                print(json.dumps(row), file=sys.stderr)
                out.append(row)
        finally:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("run", nargs="?", type=Path, help="a sampling run (default: a fresh mnist-fast one)")
    p.add_argument("--model", choices=sorted(MODELS), default="mnist-fast",
                   help="the default run's networks (default mnist-fast)")
    p.add_argument("--out", type=Path, help="JSON file (default benchmarks/results/serve_load_MODEL.json)")
    p.add_argument("--clients", default="1,8,32", help="concurrency levels (default 1,8,32)")
    p.add_argument("--batches", default="32,1", help="server --max-batch settings (default 32,1)")
    p.add_argument("--max-requests", type=int, default=600, help="requests per level at most")
    p.add_argument("--max-seconds", type=float, default=20.0, help="seconds per level at most")
    p.add_argument("--warmup", type=int, default=5, help="untimed requests first (default 5)")
    p.add_argument("--threads", type=int, default=1, help="the server's torch threads (default 1)")
    args = p.parse_args()
    args.clients = [int(x) for x in args.clients.split(",")]
    args.batches = [int(x) for x in args.batches.split(",")]
    import torch

    before = uptime()
    with tempfile.TemporaryDirectory() as tmp:
        run = args.run or make_run(Path(tmp), args.model)
        forward = forward_ms(run, args.threads)
        print(json.dumps(forward), file=sys.stderr)
        t0 = time.time()
        rows = asyncio.run(bench(run, args))
        result = {
            "benchmark": "serve_load",
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "cpu": _cpu(), "cores": os.cpu_count(), "torch": torch.__version__,
            "server_threads": args.threads, "uptime_before": before, "uptime_after": uptime(),
            "run": str(args.run) if args.run else f"{args.model}: {MODELS[args.model]}, 1 training step",
            "generator_alone": forward,
            "request": "GET /api/generate?run=RUN&seed=S: one image, a PNG",
            "limits": {"max_requests": args.max_requests, "max_seconds": args.max_seconds},
            "wall_s": round(time.time() - t0, 1), "levels": rows,
        }
    text = json.dumps(result, indent=2)
    print(text)
    name = args.run.name if args.run else args.model
    out = args.out or ROOT / "benchmarks" / "results" / f"serve_load_{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")


if __name__ == "__main__":
    main()
