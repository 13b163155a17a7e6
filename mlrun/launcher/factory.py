"""``LauncherFactory().create_launcher(is_remote, local=...)``, as MLRun 1.x code and tests call it."""
from __future__ import annotations


class LocalLauncher:
    """Starts a function's run on this machine: ``launch(runtime, task, ...)`` is ``runtime.run(task, ...)``."""

    def __init__(self, local: bool = True):
        self.local = local

    def launch(self, runtime, task=None, handler=None, **run_options):
        """Run the function object ``runtime`` with the task ``task``; the run object."""
        return runtime.run(task, handler=handler, local=True, **run_options)


class LauncherFactory:
    def create_launcher(self, is_remote: bool = False, local: bool = True, **_options) -> LocalLauncher:
        """The launcher: runs start on this machine whatever ``is_remote`` says (there is no cluster here)."""
        return LocalLauncher(local=True)
