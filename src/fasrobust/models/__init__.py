"""Models stage: VGG16 backbone with torchvision-compatible names, the FASNet head, freeze policies,
checkpoint I/O and a registry (`create_model(name, **kw)`).

Importing this package registers every built-in model. ONNX export lives in `models.export` (it needs
the optional 'onnx' extra)."""

from . import fasnet, tiny  # noqa: F401  (registers 'fasnet' and 'tiny-cnn')
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .freeze import DEFAULT_FREEZE, FreezePolicy
from .imagenet import load_imagenet_features
from .preprocessing import PRESETS, Preprocessing, PreprocessingPreset
from .registry import ModelSpec, create_model, list_models, register_model

__all__ = [
    "DEFAULT_FREEZE", "PRESETS", "Checkpoint", "FreezePolicy", "ModelSpec", "Preprocessing",
    "PreprocessingPreset", "create_model", "list_models", "load_checkpoint", "load_imagenet_features",
    "register_model", "save_checkpoint",
]
