"""fasrobust: how far a face anti-spoofing model can be fooled by changing a handful of pixels.

The data flow is prepare (data/) -> train (training/, models/) -> attack (targets/, attacks/)
-> report (experiments/, report/); see DESIGN.md in the team's shared folder. From Python (api.py):

    import fasrobust
    results = fasrobust.attack(fasrobust.as_target(model, scale=1 / 255), images, attack="sparse-rs", pixels=9)

`attack`, `as_target` and `adversarial_images` are imported on first use, so `import fasrobust` stays light.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fasrobust")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

_API = ("attack", "as_target", "adversarial_images")


def __getattr__(name: str):
    if name in _API:
        return getattr(import_module(".api", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["__version__", *_API]
