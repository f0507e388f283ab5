"""The live version of the catalogue index for a long-running reader (the API): picked up without a restart."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from serving.index.format import current_name
from serving.index.ranking import CatalogueIndex
from shoplens import ShopLensError

RECHECK_SECONDS = 1.0  # how often a running API looks for a new version


def load_current(root: Path) -> CatalogueIndex | None:
    """The live version under `root`, None when there is none."""
    name = current_name(root)
    return CatalogueIndex(root / name) if name else None


class LiveIndex:
    """The current version under a folder, for a long-running reader: CURRENT is checked at most once a
    second and a new version loaded when it changes (no restart); a version that cannot be read leaves
    the previous one in service and says why."""

    def __init__(self, root: str | Path | None) -> None:
        self.root = Path(root) if root else None
        self._loaded: CatalogueIndex | None = None
        self._checked = -RECHECK_SECONDS
        self._problem = "no catalogue index configured (SHOPLENS_INDEX_DIR)" if self.root is None else ""
        self._lock = threading.Lock()

    def current(self) -> tuple[CatalogueIndex | None, str]:
        """(the live index or None, why there is none)."""
        if self.root is not None and time.monotonic() - self._checked >= RECHECK_SECONDS:
            with self._lock:
                self._refresh()
        return self._loaded, self._problem

    def _refresh(self) -> None:
        self._checked = time.monotonic()
        name = current_name(self.root)
        if name is None:
            self._problem = f"no catalogue index built in {self.root} yet (shoplens-index build)"
            return
        if self._loaded is not None and self._loaded.version == name:
            return
        try:
            self._loaded, self._problem = CatalogueIndex(self.root / name), ""
        except ShopLensError as exc:
            self._problem = str(exc)
