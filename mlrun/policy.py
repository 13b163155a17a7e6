"""What a request from outside may touch: the prefixes its operator allowed.

A served function (``mlrun serve --allow PREFIX``, ``$MLRUN_SERVE_ALLOW``) and the run server
(``mlrun server --artifact-root PREFIX``, ``$MLRUN_ARTIFACT_ROOTS``) check every path and URL a
request names against an ``AccessPolicy`` before any byte moves.  A prefix is a local directory
(or ``file://`` URL), ``s3://bucket[/prefix]``, ``http(s)://host[:port][/prefix]``, or ``*`` for
everything.  Local paths are resolved first, symlinks included, so a link inside an allowed
folder cannot lead out of it; URLs are matched on whole path segments, and a URL whose path
climbs (``..``) matches nothing.

A served function's policy (``AccessPolicy.serving``) adds its defaults: the function's own folder
(read only; its Python sources are never written) and its output path (read and write; by default a
fresh folder of its own under ``$MLRUN_HOME/serve``).  Where prefixes nest, the closest one decides: a
read-only folder inside a writable one stays read only.  Then ``s3://`` with credentials the request
itself carries (never the function's own); ``http(s)://`` reads from public addresses only.  Explicit
prefixes override these defaults for what they cover, but not the S3 endpoint rule: whatever the path,
the function's own credentials only go to its own endpoint (its environment), and a request naming
another endpoint brings its own credentials for an allowed or public one.

Local runs (``mlrun run FILE``, ``run_function``) have no policy: the user's own code and
command line are trusted with whatever the user can reach.
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from .config import default_out_path
from .errors import AccessDeniedError, InvalidInputError

ALLOW_ANY = "*"
#: comma-separated prefixes a served function may touch beyond its defaults (``mlrun serve --allow``)
SERVE_ALLOW_ENV = "MLRUN_SERVE_ALLOW"
#: the secrets that make S3 credentials and name an S3 endpoint, as ``mlrun.datastore.s3`` reads them
S3_CREDENTIAL_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
S3_ENDPOINT_KEYS = ("S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")


_O_PATH = getattr(os, "O_PATH", 0)
_FD_LINKS = "/proc/self/fd/"
#: holds ``False`` once reading ``/proc/self/fd`` failed in this process
_proc_works: list = []


def real_path(path: str) -> str:
    """``os.path.realpath(path)``, asked of the kernel where it can tell (Linux): the longest part of
    ``path`` that exists is opened (``O_PATH``, nothing read) and its ``/proc/self/fd`` link read, so
    every symlink is resolved by the same lookup that opening the file makes; the rest, which does not
    exist yet, is appended.  A few system calls instead of an ``lstat`` and a dozen Python steps per
    component: this runs on every input and artifact of a served run.
    """
    if not os.path.isabs(path):
        path = os.path.join(os.getcwd(), path)
    if not _O_PATH or _proc_works:
        return os.path.realpath(path)
    head, missing = path, []
    while True:
        try:
            fd = os.open(head, _O_PATH | os.O_CLOEXEC)
            break
        except FileNotFoundError:
            if os.path.islink(head):  # a dangling link: what it names would be created, so follow it
                return os.path.realpath(path)
            head, name = os.path.split(head)
            if not name:
                return os.path.realpath(path)
            missing.append(name)
        except OSError:  # a component that is not a folder, a loop, no permission: as realpath says it
            return os.path.realpath(path)
    try:
        resolved = os.readlink(f"{_FD_LINKS}{fd}")
    except OSError:  # no /proc here (some containers): the portable way, from now on
        _proc_works.append(False)
        return os.path.realpath(path)
    finally:
        os.close(fd)
    if not missing:
        return resolved
    if ".." in missing:  # a climb out of what does not exist may land on a symlink again: walk it all
        return os.path.realpath(path)
    return os.path.normpath(os.path.join(resolved, *reversed(missing)))


def _split(url: str) -> tuple[str, str, str]:
    """``(scheme, netloc, path)``: ``("", "", real local path)`` for local paths and ``file://`` URLs."""
    if url.startswith("file://"):
        url = url[len("file://"):]
    if "://" not in url:
        return "", "", real_path(os.path.expanduser(url))
    scheme, _, rest = url.partition("://")
    netloc, _, path = rest.partition("/")
    scheme, netloc = scheme.lower(), netloc.lower()
    if scheme in ("http", "https"):
        path = path.partition("?")[0].partition("#")[0]
        default_port = ":80" if scheme == "http" else ":443"
        netloc = netloc.removesuffix(default_port)
    return scheme, netloc, path


def _climbs(path: str) -> bool:
    from urllib.parse import unquote

    return ".." in unquote(path).replace("\\", "/").split("/")


def _under(path: str, root: str, sep: str) -> bool:
    """``path`` is ``root`` or inside it, on whole segments (``/data`` does not hold ``/database``)."""
    root = root.rstrip(sep)
    return not root or path == root or path.startswith(root + sep)


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


def is_local(url: str) -> bool:
    """Whether ``url`` names a local file (a plain path or ``file://``)."""
    return _scheme(url) in ("", "file")


def absolute(url: str) -> str:
    """A local path made absolute (a record read elsewhere, later, still finds it); URLs as they are."""
    if _scheme(url) == "file":
        return "file://" + os.path.abspath(os.path.expanduser(url[len("file://"):]))
    return url if "://" in url else os.path.abspath(os.path.expanduser(url))


class AccessPolicy:
    """A set of allowed prefixes; ``check(url)`` refuses anything outside them with ``AccessDeniedError``.

    ``prefixes`` may be read and written, ``read_only`` only read.  With ``remote_defaults`` (a
    served function's policy, see ``serving``) what no prefix covers may still be reached the
    way the module's docstring says, judged with the request's own secrets (``for_request``).
    """

    def __init__(self, prefixes: Iterable[str] = (), read_only: Iterable[str] = (), *,
                 remote_defaults: bool = False, out_path: str = ""):
        self.prefixes = [str(p).strip() for p in prefixes if str(p).strip()]
        self.read_only = [str(p).strip() for p in read_only if str(p).strip()]
        self.allow_any = ALLOW_ANY in self.prefixes
        self.remote_defaults = remote_defaults
        #: where a served function's artifacts go; a request may only name a sub-path of it
        self.out_path = out_path
        #: the secrets the request itself carries (``for_request``); only these open remote stores
        self.request_secrets: dict | None = None
        #: the served function's own folder (real path): its Python sources are never written for a request
        self.function_dir = ""
        self._roots = []
        for prefix, writable in [*((p, True) for p in self.prefixes), *((p, False) for p in self.read_only)]:
            if prefix == ALLOW_ANY:
                continue
            scheme, netloc, path = _split(prefix)
            if scheme and not netloc:
                raise InvalidInputError(f"allowed prefix {prefix!r} names no bucket or host")
            if scheme and _climbs(path):
                raise InvalidInputError(f"allowed prefix {prefix!r} must not contain '..'")
            self._roots.append((scheme, netloc, path, writable))

    @classmethod
    def from_text(cls, text: str) -> AccessPolicy:
        """From a comma-separated list (the form of ``$MLRUN_SERVE_ALLOW`` and ``$MLRUN_ARTIFACT_ROOTS``)."""
        return cls(part for part in (text or "").split(","))

    @classmethod
    def serving(cls, allow: Iterable[str] | None = None, out_path: str = "",
                function_dir: str = "", name: str = "") -> AccessPolicy:
        """A served function's policy: ``allow`` (default ``$MLRUN_SERVE_ALLOW``) plus the defaults.

        ``out_path`` defaults to ``$MLRUN_OUT_PATH``, else a fresh folder of the function's own
        (``function_output_folder(name)``): never the working directory, which may hold anything.
        ``function_dir`` (the handler file's folder) defaults to the working directory: read only, its
        Python sources never written.  Local paths are made absolute.
        """
        if allow is None:
            allow = os.environ.get(SERVE_ALLOW_ENV, "").split(",")
        function_dir = os.path.abspath(function_dir or os.getcwd())
        out_path = absolute(out_path or default_out_path()
                            or function_output_folder(name or os.path.basename(function_dir)))
        policy = cls([*allow, out_path], [function_dir], remote_defaults=True, out_path=out_path)
        policy.function_dir = real_path(function_dir)
        return policy

    def for_request(self, secrets: Mapping | None) -> AccessPolicy:
        """This policy for one request carrying ``secrets`` (its ``secrets`` field)."""
        import copy

        bound = copy.copy(self)
        bound.request_secrets = dict(secrets or {})
        return bound

    def __repr__(self) -> str:
        return f"AccessPolicy({self.prefixes!r}, read_only={self.read_only!r})"

    def __bool__(self) -> bool:
        return bool(self.prefixes or self.read_only)

    def describe(self) -> str:
        """The allowed prefixes, for messages: ``/srv/out, /srv/fn (read only)``."""
        if self.allow_any:
            return "anything"
        parts = [*self.prefixes, *(f"{p} (read only)" for p in self.read_only)]
        return ", ".join(parts) if parts else "nothing"

    def allows(self, url: str, action: str = "read") -> bool:
        """Whether a prefix covers ``url`` for ``action`` ("read", "write"); the remote defaults aside."""
        if self.allow_any:
            return True
        try:
            scheme, netloc, path = _split(url)
        except ValueError:  # an embedded NUL byte: names nothing that can be opened
            return False
        if scheme and (not netloc or _climbs(path)):
            return False
        sep = os.sep if not scheme else "/"
        covering = [(len(p.rstrip(sep)), writable) for s, n, p, writable in self._roots
                    if scheme == s and netloc == n and _under(path, p, sep)]
        if not covering or action == "read":
            return bool(covering)
        if not scheme and self.function_dir and _is_source(path, self.function_dir):
            return False
        # the closest prefix decides: a read-only folder inside a writable one stays read only
        closest = max(length for length, _ in covering)
        return any(writable for length, writable in covering if length == closest)

    def check(self, url: str, action: str = "read", secrets: Mapping | None = None) -> None:
        """Refuse ``url`` unless a prefix (or a served function's default) allows ``action`` on it.

        ``secrets`` are the request's own secrets as they apply to ``url`` (a named store's, its
        prefix removed); default: those the policy was bound to with ``for_request``.
        """
        if self.remote_defaults and _scheme(url) == "s3":  # whatever the path: where would the credentials go?
            reason = self._endpoint_refusal(self.request_secrets if secrets is None else secrets)
            if reason:
                raise AccessDeniedError(f"not allowed to {action} {url}: {reason}")
        if self.allows(url, action):
            return
        reason = self._default_refusal(url, action, secrets) if self.remote_defaults else ""
        if reason is None:
            return
        raise AccessDeniedError(f"not allowed to {action} {url}: {reason}" if reason
                                else f"not allowed to {action} {url}: outside what the operator allowed")

    def check_opened(self, url: str, real: str, action: str = "read") -> None:
        """Refuse what opening ``url`` reached (``real``, its real path) unless a prefix allows ``action`` on it."""
        if not self.allows(real, action):
            raise AccessDeniedError(f"not allowed to {action} {url}: it leads outside the allowed folders")

    def _default_refusal(self, url: str, action: str, secrets: Mapping | None) -> str | None:
        """Why the served defaults refuse ``url`` (``""``: they do not cover it at all), or ``None``: allowed."""
        scheme = _scheme(url)
        if scheme == "s3":
            secrets = self.request_secrets if secrets is None else secrets
            secrets = secrets or {}
            if not all(secrets.get(key) for key in S3_CREDENTIAL_KEYS):
                return "the request carries no S3 credentials for it, and a served function lends none of its own"
            for key in S3_ENDPOINT_KEYS:  # its own credentials, where no prefix allows the bucket: a public endpoint
                reason = self._unreachable_endpoint(secrets, key)
                if reason:
                    return reason
            return None
        if scheme in ("http", "https") and action == "read":
            return url_refusal(url) or None
        return ""

    def _endpoint_refusal(self, secrets: Mapping | None) -> str:
        """Why a request's S3 endpoint may not be used (``""``: it names none, or one it may use).

        The function's own credentials only ever go to the function's own endpoint (its environment): a
        request naming another brings its own credentials, and the endpoint must be allowed or public.
        """
        secrets = secrets or {}
        own = next((os.environ[key] for key in S3_ENDPOINT_KEYS if os.environ.get(key)), "")
        for key in S3_ENDPOINT_KEYS:
            endpoint = str(secrets.get(key) or "")
            if not endpoint or endpoint == own:
                continue
            if not all(secrets.get(k) for k in S3_CREDENTIAL_KEYS):
                return (f"the request names the S3 endpoint in {key} without credentials of its own, and a "
                        "served function sends its own only to its own endpoint")
            reason = self._unreachable_endpoint(secrets, key)
            if reason:
                return reason
        return ""

    def _unreachable_endpoint(self, secrets: Mapping, key: str) -> str:
        """Why the S3 endpoint the request names in ``key`` may not be reached: neither allowed nor public."""
        endpoint = str(secrets.get(key) or "")
        reason = url_refusal(endpoint) if endpoint and not self.allows(endpoint) else ""
        return f"the S3 endpoint in {key}: {reason}" if reason else ""

    def output_path(self, requested: str = "") -> str:
        """The output path of a run that asked for ``requested`` (its ``spec.default_output_path``).

        The function chose its output path: a request may name a relative sub-path under it; an
        absolute path, a URL or a climb (``..``) only where an allowed prefix covers it for writing.
        """
        base = self.out_path or absolute(default_out_path() or os.getcwd())
        if not requested:
            return base
        parts = requested.replace("\\", "/").split("/")
        if "://" not in requested and not os.path.isabs(os.path.expanduser(requested)) and ".." not in parts:
            return base.rstrip("/") + "/" + requested if "://" in base else os.path.join(base, requested)
        target = requested if "://" in requested or os.path.isabs(requested) else os.path.join(base, requested)
        if not self.allows(target, "write"):
            raise AccessDeniedError(f"not allowed to write {requested}: spec.default_output_path may only name a "
                                    "sub-path of the function's output path, or a place the operator allowed")
        return absolute(target)


def _is_source(path: str, function_dir: str) -> bool:
    """Whether ``path`` is one of a served function's own Python sources (or their compiled forms)."""
    folder, name = os.path.split(path)
    if folder == os.path.join(function_dir, "__pycache__"):
        return True
    return folder == function_dir and name.endswith((".py", ".pyc", ".pth"))


def function_output_folder(name: str) -> str:
    """A new, empty folder for a served function's artifacts: ``$MLRUN_HOME/serve/NAME-TIME-RANDOM``."""
    import re
    import time

    from .config import home_dir

    base = os.path.join(home_dir(), "serve")
    os.makedirs(base, exist_ok=True)
    label = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip(".-") or "function"
    folder = os.path.join(base, f"{label}-{time.strftime('%Y%m%d-%H%M%S')}-{os.urandom(3).hex()}")
    os.mkdir(folder, 0o700)
    return folder


def url_refusal(url: str) -> str:
    """Why ``url`` (``http(s)://``) may not be fetched for a request: it names no public host; ``""`` if it may.

    The host is resolved and every address checked: loopback, link-local, private, multicast,
    reserved, unspecified and other non-global addresses are refused, IPv4 inside IPv6 too.
    """
    if _scheme(url) not in ("http", "https"):
        return f"{url.partition('://')[0] or url!r} is not an http(s) URL"
    try:
        from requests.models import PreparedRequest
        from urllib3.util import parse_url

        prepared = PreparedRequest()
        prepared.prepare_url(url, None)  # the URL exactly as requests will send it
        host = parse_url(prepared.url).host or ""
    except ImportError:
        from urllib.parse import urlsplit

        host = urlsplit(url).hostname or ""
    except Exception:  # requests' and urllib3's own errors: a URL nobody could fetch
        return "not a valid URL"
    if not host:
        return "it names no host"
    return host_refusal(host.strip("[]"))


def host_refusal(host: str) -> str:
    """Why ``host`` (a name or an address) is not public: ``""`` when every address it resolves to is."""
    import socket

    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return f"its host {host} does not resolve"
    for info in infos:
        address = str(info[4][0]).partition("%")[0]  # an IPv6 zone (fe80::1%eth0)
        kind = address_kind(address)
        if kind:
            return f"{host} is {kind}" if address == host else f"{host} resolves to {kind} ({address})"
    return ""


def address_kind(address: str) -> str:
    """``"a loopback address"`` and the like for an address a request may not reach; ``""`` for a public one."""
    import ipaddress

    ip = ipaddress.ip_address(address)
    if ip.version == 6:  # an IPv4 address inside an IPv6 one reaches the IPv4 host
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and ip in ipaddress.ip_network("64:ff9b::/96"):  # NAT64
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return address_kind(str(embedded))
    for kind in ("unspecified", "loopback", "link_local", "multicast", "reserved", "private"):
        if getattr(ip, f"is_{kind}"):
            return f"{'an' if kind == 'unspecified' else 'a'} {kind.replace('_', '-')} address"
    return "" if ip.is_global else "a non-public address"


_configured: AccessPolicy | None = None
_from_environment: dict[tuple, AccessPolicy] = {}


def configure_serving(policy: AccessPolicy | None) -> None:
    """Make ``policy`` that of every run built from an event in this process (``mlrun serve``); ``None`` resets."""
    global _configured
    _configured = policy


def serving_policy(function_dir: str = "") -> AccessPolicy:
    """The policy of a run built from an event: ``mlrun serve``'s, else ``AccessPolicy.serving()`` from the
    environment (nuclio, containers) with ``function_dir`` (default: the working directory)."""
    if _configured is not None:
        return _configured
    cwd = os.getcwd()
    key = (os.environ.get(SERVE_ALLOW_ENV, ""), default_out_path(), function_dir or cwd, cwd)
    policy = _from_environment.get(key)
    if policy is None:  # built once per setting: each build resolves its folders
        if len(_from_environment) >= 16:
            _from_environment.clear()
        policy = _from_environment[key] = AccessPolicy.serving(key[0].split(","), key[1], key[2])
    return policy


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ``::1``): traffic to it never leaves this
    machine.  A name is never resolved."""
    import ipaddress

    host = host.strip().strip("[]")
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
