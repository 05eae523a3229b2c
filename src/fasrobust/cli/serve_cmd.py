"""`fasrobust serve`: expose a trained model (run directory or .onnx file) as the HTTP liveness endpoint
that `HttpTarget` queries (protocol and limits in `fasrobust.targets.server`; Starlette on uvicorn, from
the `http` extra)."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import typer

from ..progress import console
from .app import app


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command("serve")
def serve(
    model: Path = typer.Argument(..., help="A run directory (model.safetensors + model.json) or an .onnx file."),
    host: str = typer.Option("127.0.0.1", help="Address to bind. The default, 127.0.0.1, answers only this "
                             "machine; binding anything else exposes the model to the network (no auth)."),
    port: int = typer.Option(8000, min=0, max=65535, help="TCP port (0 picks a free one)."),
    max_batch: int | None = typer.Option(None, "--max-batch", min=1,
                                         help="Images per model call (default: chosen for the device)."),
    max_images: int = typer.Option(1024, "--max-images", min=1, help="Most images one request may carry."),
    max_mb: int = typer.Option(16, "--max-mb", min=1, help="Largest request body, in MiB (a larger "
                               "one is refused from its Content-Length, before it is read)."),
    max_megapixels: int = typer.Option(64, "--max-megapixels", min=1,
                                       help="Most decoded pixels one request may ask for, in units of 2**20; "
                                            "checked from the PNG headers before decoding."),
    device: str = typer.Option("auto", help="torch device for a run directory: auto, cpu, cuda, cuda:1 ..."),
    verbose: bool = typer.Option(False, "--verbose", help="Log every request to stderr."),
) -> None:
    """Serve MODEL over HTTP: GET /v1/health (model info), POST /v1/score (JSON list of base64 PNGs in,
    P(live) per image out). Binds 127.0.0.1, this machine only, by default. Stop with Ctrl-C."""
    from ..targets.server import make_server

    if verbose:  # the command owns this process's logging; the server itself leaves it alone
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    options: dict = {} if max_batch is None else {"max_batch": max_batch}
    if model.suffix.lower() != ".onnx":
        options["device"] = device
    server = make_server(model, host, port, max_bytes=max_mb << 20, max_images=max_images,
                         max_pixels=max_megapixels << 20, verbose=verbose, **options)
    if not _is_loopback(host):
        console.print(f"[yellow]warning:[/] listening on {host}: anyone who can reach this address can query "
                      "the model; there is no authentication")
    # The bound URL goes to stdout (one line) so a script can read it, e.g. with --port 0.
    print(server.url, flush=True)
    console.print(f"serving {server.target.name} at {server.url} (POST /v1/score, GET /v1/health); Ctrl-C stops")
    try:
        server.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C is how a server is stopped, not an interruption of work
        console.print("stopped")
    finally:
        server.server_close()
        server.target.close()
