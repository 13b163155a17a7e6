#!/bin/sh
# The image's command: `mlrun serve HANDLER [OPTIONS]`. HANDLER is the first argument, else $MLRUN_HANDLER;
# other arguments are mlrun serve options. exec: mlrun serve is PID 1 and handles SIGTERM itself.
if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- "${MLRUN_HANDLER:?set MLRUN_HANDLER or pass FILE[:HANDLER]}" "$@"
fi
exec python -m mlrun serve "$@"
