"""The FastAPI app: one static page and a JSON/PNG API over ``engine`` (``/docs`` lists it).

No ``from __future__ import annotations`` here: FastAPI reads the route signatures at run time,
and they name values local to ``create_app``."""


import asyncio
import json
import secrets
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from PIL import Image
from starlette.exceptions import HTTPException as StarletteHTTPException

from .._version import __version__
from ..errors import GanforgeError
from ..infer import Sampler, Translator
from . import engine
from .engine import BadRequest, Runs

UPLOAD_SLACK = 64 * 1024  # multipart headers and form fields around the file


def create_app(runs: Sequence[str | Path], device: str = "cpu", max_batch: int = engine.MAX_BATCH,
               max_upload_bytes: int = engine.MAX_UPLOAD_BYTES,
               max_upload_pixels: int = engine.MAX_UPLOAD_PIXELS) -> FastAPI:
    """The web app over the runs at or under ``runs`` (run folders or folders of runs).

    ``max_batch``: latents rendered in one pass when requests arrive together (1: none batched).
    Raises:
        GanforgeError: a folder that does not exist or holds no run.
    """
    state = Runs(runs, device, max_batch)
    app = FastAPI(title="ganforge", version=__version__,
                  description="Sample, translate and watch ganforge runs. Every image is a PNG whose "
                              "text chunks name the run and seed that made it.")
    app.state.runs = state
    app.add_middleware(_BodyLimit, limit=max_upload_bytes + UPLOAD_SLACK)

    @app.exception_handler(BadRequest)
    async def _bad(request: Request, e: BadRequest) -> JSONResponse:
        return JSONResponse({"error": e.message}, status_code=e.status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, e: RequestValidationError) -> JSONResponse:
        parts = []
        for err in e.errors():
            where = ".".join(str(x) for x in err.get("loc", ())[1:]) or "request"
            got = f" (got {err['input']!r})" if err.get("type") != "missing" and "input" in err else ""
            parts.append(f"{where}: {err.get('msg', 'invalid')}{got}")
        return JSONResponse({"error": "; ".join(parts)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, e: StarletteHTTPException) -> JSONResponse:
        msg = e.detail if e.status_code != 404 else f"{request.url.path}: no such page (the API is at /docs)"
        return JSONResponse({"error": msg}, status_code=e.status_code)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        return HTMLResponse((resources.files(__package__) / "static" / "index.html").read_text("utf-8"))

    @app.get("/healthz", summary="liveness: the server answers, the runs it sees, the batching so far")
    def healthz() -> dict[str, Any]:
        batching = {name: {"passes": m.batcher.passes, "requests": m.batcher.jobs}
                    for name, m in state._loaded.items() if m.batcher is not None}
        return {"status": "ok", "version": __version__, "runs": len(state.dirs), "batching": batching}

    @app.get("/api/runs", summary="every run: family, step, latest grid, loss curves, scores with floors")
    async def list_runs() -> dict[str, Any]:
        return {"runs": await asyncio.to_thread(state.summaries)}

    @app.get("/api/run", summary="one run's summary and the controls its model offers")
    async def one_run(run: Annotated[str, Query(description="run name, as /api/runs lists it")]) -> dict:
        rd = state.get(run)
        out = await asyncio.to_thread(lambda: engine.summary(run, rd, state.records(rd)))
        loaded = await state.model(run)
        out["controls"] = await asyncio.to_thread(engine.controls, loaded)
        return out

    @app.get("/api/grid", response_class=Response, summary="the run's latest training preview grid (PNG)",
             responses={200: {"content": {"image/png": {}}}})
    async def grid(run: Annotated[str, Query()]) -> Response:
        rd = state.get(run)
        path = rd.latest_sample()
        if path is None:
            raise BadRequest(404, f"run {run!r} has no preview grid yet (one is drawn each epoch)")

        def read() -> bytes:
            with Image.open(path) as img:
                img.load()
                return engine.encode_png(img, {"run": run, "source": f"training preview {path.name}"})

        return Response(await asyncio.to_thread(read), media_type="image/png")

    @app.get("/api/generate", response_class=Response, responses={200: {"content": {"image/png": {}}}},
             summary="new images from a sampling run (PNG; a grid when n > 1)")
    async def generate(
        run: Annotated[str, Query(description="run name")],
        seed: Annotated[int | None, Query(ge=0, lt=2**63, description="default: a random one "
                                          "(sent back in X-Seed)")] = None,
        n: Annotated[int, Query(ge=1, le=engine.MAX_IMAGES, description="images (a grid if > 1)")] = 1,
        label: Annotated[str | None, Query(alias="class", description="class index or name "
                                           "(conditional runs)")] = None,
        psi: Annotated[float | None, Query(description="truncation, 1 = none (stylegan2)")] = None,
        seed_b: Annotated[int | None, Query(ge=0, lt=2**63, description="walk towards this seed")] = None,
        t: Annotated[float, Query(ge=0, le=1, description="how far along the walk to seed_b")] = 0.5,
    ) -> Response:
        loaded = await state.model(run)
        sampler = loaded.model
        if not isinstance(sampler, Sampler):
            raise BadRequest(400, f"run {run!r} translates images; POST an image to /api/translate")
        seed = secrets.randbelow(2**31) if seed is None else seed
        job = engine.make_job(sampler, seed, n, label, psi, seed_b, t)
        assert loaded.batcher is not None
        images = await loaded.batcher.submit(job)
        info = {"run": run, "model_sha256": _model_hash(sampler), "seed": str(seed), "n": str(n)}
        if label is not None:
            info["class"] = label
        if psi is not None:
            info["psi"] = str(psi)
        if seed_b is not None:
            info.update(seed_b=str(seed_b), t=str(t))
        if images[0].numel() // images.shape[1] * len(images) <= engine.INLINE_PIXELS:
            png = engine.as_png(images, info)  # a few hundred microseconds
        else:
            png = await asyncio.to_thread(engine.as_png, images, info)
        return Response(png, media_type="image/png",
                        headers={"X-Seed": str(seed), "Cache-Control": "no-store"})

    @app.post("/api/translate", response_class=Response, responses={200: {"content": {"image/png": {}}}},
              summary="translate an uploaded image with a cyclegan/pix2pix run (PNG, the image's size)")
    async def translate(
        run: Annotated[str, Form(description="run name")],
        file: Annotated[UploadFile, File(description=f"an image ({', '.join(engine.UPLOAD_FORMATS)}) "
                                         f"up to {max_upload_bytes // 2**20} MiB")],
        direction: Annotated[str, Form(description="a2b or b2a")] = "a2b",
    ) -> Response:
        loaded = await state.model(run)
        tr = loaded.model
        if not isinstance(tr, Translator):
            raise BadRequest(400, f"run {run!r} generates images; use /api/generate")
        if direction not in tr.directions:
            raise BadRequest(422, f"direction: {direction!r} is not one this run translates "
                                  f"({', '.join(tr.directions)})")
        data = await file.read(max_upload_bytes + 1)
        if len(data) > max_upload_bytes:
            raise BadRequest(413, f"the upload is over the {max_upload_bytes:,}-byte limit")
        img = await asyncio.to_thread(engine.open_upload, data, max_upload_pixels)
        try:
            out = await asyncio.to_thread(engine.translate, loaded, img, direction)
        except GanforgeError as e:
            raise BadRequest(400, str(e)) from None
        info = {"run": run, "model_sha256": _model_hash(tr), "direction": direction,
                "source": "translation of an uploaded image"}
        png = await asyncio.to_thread(engine.encode_png, out, info)
        return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})

    return app


def _model_hash(model: Any) -> str | None:
    """The loaded model's weights hash (infer.load records it), for the provenance record."""
    return getattr(model, "provenance", {}).get("model_sha256")


class _BodyLimit:
    """Refuses a request body over ``limit`` bytes with a 413 before the app (or the multipart
    parser, which would spool any size to disk) sees it: by its Content-Length when it gives
    one, else by counting as it arrives."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            return await self._refuse(send)
        body, more = bytearray(), True
        while more:
            msg = await receive()
            if msg["type"] == "http.disconnect":
                return
            body += msg.get("body", b"")
            more = msg.get("more_body", False)
            if len(body) > self.limit:
                return await self._refuse(send)
        sent = False

        async def replay() -> dict:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        mib = (self.limit - UPLOAD_SLACK) / 2**20
        body = json.dumps({"error": f"the upload is too large: the limit is {mib:g} MiB"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
