"""Models stage: VGG16 backbone with torchvision-compatible names, the FASNet head, freeze policies,
checkpoint I/O and a registry (`create_model(name, **kw)`, `list_models()`).

Every module here that defines a model registers it (`@register_model`); the registry imports them the
first time a model is asked for. The names below are imported on first use, so `fasrobust.models.
preprocessing` (which the targets read) does not bring torch's model code along. ONNX export lives in
`models.export` (it needs the optional 'onnx' extra)."""

from importlib import import_module

_LAZY = {
    "Checkpoint": ".checkpoint", "load_checkpoint": ".checkpoint", "save_checkpoint": ".checkpoint",
    "DEFAULT_FREEZE": ".freeze", "FreezePolicy": ".freeze", "load_imagenet_features": ".imagenet",
    "PRESETS": ".preprocessing", "Preprocessing": ".preprocessing", "PreprocessingPreset": ".preprocessing",
    "ModelSpec": ".registry", "create_model": ".registry", "list_models": ".registry",
    "register_model": ".registry", "MODELS": ".registry",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_LAZY)
