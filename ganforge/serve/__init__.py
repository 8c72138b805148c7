"""``ganforge serve``: a web page and a JSON/PNG API over trained runs (``pip install
'ganforge[serve]'``). FastAPI is imported only when an app is made, so ``import ganforge``
never needs it.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..errors import GanforgeError
from .engine import MAX_BATCH, encode_png

MISSING = "ganforge serve needs FastAPI and uvicorn: pip install 'ganforge[serve]'"


def create_app(runs: Sequence[str | Path], device: str = "cpu", **kwargs: Any) -> Any:
    """The FastAPI app over the runs at or under ``runs``; see :func:`ganforge.serve.app.create_app`."""
    from .app import create_app as make

    return make(runs, device, **kwargs)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_listen(host: str, port: int) -> None:
    """Say in one line, before any model is loaded, that ``host:port`` cannot be listened on
    (a port in use, an address not of this machine), rather than uvicorn's log line later."""
    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise GanforgeError(f"--host {host}: not an address this machine can listen on ({e})") from None
    with socket.socket(family, kind, proto) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            s.bind(addr)
        except OSError as e:
            raise GanforgeError(f"--host {host} --port {port}: cannot listen there ({e.strerror or e}); "
                                "choose another --port (or stop what uses it)") from None


def serve(runs: Sequence[str | Path], host: str = "127.0.0.1", port: int = 8000, device: str = "auto",
          max_batch: int = MAX_BATCH, say: Callable[[str], None] = print) -> None:
    """Serve the page and the API until Ctrl-C. Binds to this machine only unless ``host`` says
    otherwise, and then says loudly who can reach it."""
    import uvicorn

    check_listen(host, port)
    app = create_app(runs, device, max_batch=max_batch)
    shown = f"[{host}]" if ":" in host else host
    if not is_loopback(host):
        say("!" * 78)
        say(f"WARNING: listening on {host}:{port}, beyond this machine: anyone who can reach it can "
            "use these models and read these runs' progress (no login, no TLS). "
            "Use --host 127.0.0.1 to keep it local.")
        say("!" * 78)
    names = sorted(app.state.runs.dirs)
    if not names:
        say(f"no run under {', '.join(map(str, runs))} yet: runs appear on the page as they start "
            "(a run folder holds config.json; start one with `ganforge train ... --out` there)")
    say(f"serving {len(names)} run{'s' * (len(names) != 1)} ({', '.join(names[:5])}"
        f"{', ...' if len(names) > 5 else ''}) on http://{shown}:{port}/  (API: /docs; Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")


__all__ = ["MISSING", "check_listen", "create_app", "encode_png", "is_loopback", "serve"]
