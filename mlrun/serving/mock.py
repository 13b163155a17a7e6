"""A serving function in this process: ``fn.to_mock_server()``, then ``server.test(path, body)``.

The requests take the same routes as a served function's (``mlrun.serving.router``), without HTTP:
for tests and notebooks.
"""
from __future__ import annotations

import json
from typing import Any

from .router import ModelRouter, render
from .v2 import ServingError


class MockServer:
    """Answers V2 requests in process, as the served function would."""

    def __init__(self, router: ModelRouter):
        self.router = router

    def test(self, path: str = "/v2/models/", body: Any = None, method: str = "", get_body: bool = True) -> Any:
        """The answer to ``method`` (default: POST with a body, else GET) on ``path``, as decoded JSON.

        ``body`` is a mapping or JSON text.  An error answer raises ``ServingError`` (its ``status``
        the HTTP status, its message the one line a caller would get); ``get_body=False``: ``(status, data)``.
        """
        method = (method or ("POST" if body is not None else "GET")).upper()
        status, content_type, text = render(*self.router.handle(method, path, body))
        if status >= 400:
            if not get_body:
                return status, text.strip()
            raise ServingError(text.strip(), status)
        data = json.loads(text)
        return data if get_body else (status, data)
