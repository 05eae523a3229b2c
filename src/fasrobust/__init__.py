"""fasrobust: how far a face anti-spoofing model can be fooled by changing a handful of pixels.

The data flow is prepare (data/) -> train (training/, models/) -> attack (targets/, attacks/)
-> report (experiments/, report/); see DESIGN.md in the team's shared folder.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("fasrobust")
except PackageNotFoundError:  # running from a source tree without installation
    __version__ = "0.0.0+source"

__all__ = ["__version__"]
