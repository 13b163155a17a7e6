"""MLRun 1.x's name of the in-process store (``memory://``): ``InMemoryStore`` and ``set_in_memory_item``."""
from __future__ import annotations

from . import set_in_memory_item
from .memory import MemoryStore as InMemoryStore
from .memory import clear

__all__ = ["InMemoryStore", "clear", "set_in_memory_item"]
