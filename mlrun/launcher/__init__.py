"""Launchers (MLRun 1.x's ``mlrun.launcher``): what starts a function's run.  Here every run starts on this
machine, through ``run_start``; ``factory.LauncherFactory`` gives the one launcher."""
