"""Named data stores: ``ds://NAME/path`` resolves through the run spec's ``data_stores``.

A spec declares ``data_stores: [{name, url, secret_prefix}]``.  ``ds://NAME/a/b.csv`` then means
``<url>/a/b.csv``, accessed with the run's secrets whose keys start with ``secret_prefix`` (the
prefix removed), so each store can have its own credentials: with ``secret_prefix: LAKE_``, the
secret ``LAKE_AWS_ACCESS_KEY_ID`` is that store's ``AWS_ACCESS_KEY_ID``.  A store declared without
a prefix uses the run's secrets as they are.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..errors import InvalidInputError, InvalidSpecError

SCHEME = "ds"


def resolve(url: str, data_stores: Sequence[Mapping] | None, secrets: Mapping | None) -> tuple[str, dict]:
    """``(real_url, secrets_for_it)`` for a ``ds://NAME/path`` URL."""
    name, _, path = url[len(SCHEME) + 3:].partition("/")
    declared = []
    for index, store in enumerate(data_stores or ()):
        if not isinstance(store, Mapping) or not store.get("name") or not store.get("url"):
            field = f"spec.data_stores[{index}]"
            raise InvalidSpecError(f"{field} needs a name and a url", field)
        declared.append(store["name"])
        if store["name"] != name:
            continue
        base = str(store["url"])
        target = base.rstrip("/") + "/" + path if path else base
        prefix = store.get("secret_prefix") or ""
        secrets = dict(secrets or {})
        if prefix:
            secrets = {k[len(prefix):]: v for k, v in secrets.items() if k.startswith(prefix)}
        return target, secrets
    known = ", ".join(declared) if declared else "none declared in spec.data_stores"
    raise InvalidInputError(f"unknown data store {name!r} in {url} (known: {known})")
