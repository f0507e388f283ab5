"""Code shared by ShopLens's crawler, training and serving packages.

Kept deliberately small: image decoding with safety limits (`imaging`), the label and
colour vocabulary (`vocab`), the data manifest (`manifest`), the model-bundle format
(`bundle`), the garment pictures the project draws for samples and tests (`sample`), how
commands report errors (`cli`), local server processes (`processes`) and headless Chromium
(`browser`). It imports nothing from the packages built on it.
"""

from __future__ import annotations

__version__ = "0.1.0"


class ShopLensError(Exception):
    """A user-facing failure: its message is printed as one line and the command exits non-zero."""
