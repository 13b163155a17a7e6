"""The contract every runtime meets."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

from ..model import RunRecord
from ..secrets import SecretsStore


@dataclass
class RunOutcome:
    """What a runtime hands back: the final record and the run's captured log (secrets masked).

    ``stored``: the run store already holds ``record`` as it is (the run committed its own end),
    so only the log is left to store.
    """

    record: RunRecord
    log: bytes = b""
    stored: bool = False
    #: bytes of ``log`` the store already holds (appended while the run went)
    log_kept: int = 0


class Runtime(ABC):
    kind = ""
    #: the run is stored as ``running`` before it is handed over (its process does not commit its start again)
    stores_running = False
    #: iterations of a sweep in flight when ``--parallel`` is not given (0: the executor's default)
    parallel = 0

    def __init__(self, target: str):
        self.target = target

    @property
    def command(self) -> str:
        """What the run's record keeps as its command (``spec.runtime.command``)."""
        return self.target

    def validate(self, record: RunRecord) -> None:  # noqa: B027 - optional: most implementations have nothing to do
        """Refuse a run that cannot start (missing file, unknown handler) before anything is recorded."""

    @abstractmethod
    def run(self, record: RunRecord, secrets: SecretsStore, rundb: str, stream: bool = True) -> RunOutcome:
        """Execute the run; never raise for a failing run: return a record in state ``error``."""
