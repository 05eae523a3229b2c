"""`fasrobust train` (FaceSet -> run directory with a checkpoint) and `fasrobust export` (run directory
-> verified ONNX file). Options override a settings file (--config train.yaml); the resolved settings
are saved in the run directory's config.yaml. Re-running train on the same --out resumes."""

from __future__ import annotations

from pathlib import Path

import typer

from ..choices import DeviceChoice, FreezePolicy, OptimizerName
from .app import app


@app.command("train")
def train_command(
    faceset: Path = typer.Option(..., "--faceset", help="FaceSet directory (from 'fasrobust prepare')."),
    out: Path = typer.Option(..., "--out", help="Run directory to write (an existing one is resumed)."),
    config: Path | None = typer.Option(None, "--config", help="Settings YAML; the options below override it."),
    model: str | None = typer.Option(None, "--model", help="Registered model name (default fasnet)."),
    augment: str | None = typer.Option(None, "--augment", help="none, shift, shear, zoom, rotation, "
                                                                "channel_shift, flip or all (the paper's eight); "
                                                                "impulse (sparse impulse noise, a training-time "
                                                                "defence) or SETTING+impulse."),
    steps: int | None = typer.Option(None, "--steps", help="Training steps (default 50000, the paper's)."),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Images per step (default 64)."),
    lr: float | None = typer.Option(None, "--lr", help="Learning rate (default: 1e-4 for adam, 1e-3 for sgd)."),
    optimizer: OptimizerName | None = typer.Option(None, "--optimizer", help="auto (default: adam from "
                                                   "scratch, the paper's sgd on --imagenet-weights), sgd (the "
                                                   "paper's, momentum 0.9) or adam; model.json records which."),
    freeze: FreezePolicy | None = typer.Option(None, "--freeze", help="Frozen conv layers (default: "
                                               "ftweights-7conv with ImageNet weights, none from scratch)."),
    imagenet_weights: Path | None = typer.Option(None, "--imagenet-weights", help="torchvision VGG16 "
                                                 "state dict (vgg16-397923af.pth layout); none: from scratch."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of initialisation, batch order, augmentation."),
    device: DeviceChoice | None = typer.Option(None, "--device", help="auto (CUDA when present), cpu, cuda."),
) -> None:
    """Train a face anti-spoofing model on a FaceSet's train split; prints the run directory."""
    from ..data.faceset import FaceSet
    from ..training.train_settings import TrainSettings
    from ..training.trainer import train

    overrides = {key: value for key, value in {
        "model": model, "augment": augment, "steps": steps, "batch_size": batch_size, "lr": lr,
        "optimizer": optimizer, "freeze": freeze, "imagenet_weights": imagenet_weights, "seed": seed,
        "device": device}.items() if value is not None}
    if config is not None:
        settings = TrainSettings.load(config, **overrides)
    else:
        settings = TrainSettings.build(overrides, source="command line")
    run_dir = train(settings, FaceSet.load(faceset), out)
    typer.echo(str(run_dir))


@app.command("export")
def export_command(
    run_dir: Path = typer.Argument(..., help="Run directory (or its model.safetensors)."),
    onnx: Path = typer.Option(..., "--onnx", help="ONNX file to write: uint8 (N, S, S, 3) RGB in, P(live) out."),
    opset: int = typer.Option(17, "--opset", help="ONNX opset version."),
) -> None:
    """Export a checkpoint to ONNX, verified against PyTorch with onnxruntime; prints the file."""
    from ..models.export import export_onnx

    typer.echo(str(export_onnx(run_dir, onnx, opset=opset)))
