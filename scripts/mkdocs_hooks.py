"""MkDocs hooks (mkdocs.yml ``hooks:``): the CLI reference shows each command's help as ``mlrun CMD -h`` does.

mkdocs-click hands a command's help text to Markdown, which joins lines; click keeps a paragraph opened by
``\\b`` as written (examples, tables of environment variables), so such a paragraph becomes a text block.
"""
from __future__ import annotations

import inspect

from mkdocs_click import _docs


def _description(ctx, remove_ascii_art: bool = False):
    help_text = ctx.command.help or ctx.command.short_help
    if not help_text:
        return
    for paragraph in inspect.cleandoc(help_text).split("\n\n"):
        lines = paragraph.splitlines()
        if lines and lines[0].strip() == "\b":
            yield from ["```text", *lines[1:], "```"]
        else:
            yield from lines
        yield ""


_docs._make_description = _description
