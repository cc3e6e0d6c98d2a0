"""Plugin definition objects and decorators (see __init__.py)."""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

PROTOCOL_VERSIONS = [1]
HOST_API_VERSION = "1.0.0"
SDK_VERSION = "1.0.0"


class PluginError(Exception):
    """A failure with a stable snake_case code that callers see as ``{code, message}``."""

    def __init__(self, code: str, message: str, data: Any = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


class BusList(list):
    """Bus records newest first, with chainable filters (seed 004's BusList)."""

    def where(self, fn: Callable[[dict], bool]) -> "BusList":
        return BusList(r for r in self if fn(r))

    def of_type(self, type_: str) -> "BusList":
        return self.where(lambda r: r.get("type") == type_)

    def take(self, n: int) -> "BusList":
        return BusList(self[:n])


class Plugin:
    """What a plugin declares: entries, lifecycle hooks, timers and event subscriptions."""

    def __init__(self) -> None:
        self.entries: Dict[str, Dict[str, Any]] = {}
        self.hooks: Dict[str, Callable] = {}
        self.timers: Dict[str, Dict[str, Any]] = {}
        self.events: Dict[str, Callable] = {}

    def entry(
        self,
        name: Optional[str] = None,
        *,
        input: Optional[dict] = None,
        timeout: Optional[float] = None,
        description: Optional[str] = None,
    ):
        """Marks ``fn(args, ctx)`` as an entry (callable over HTTP and from other plugins)."""

        def wrap(fn: Callable) -> Callable:
            self.add_entry(name or fn.__name__, fn, input=input, timeout=timeout, description=description)
            return fn

        return wrap

    def add_entry(self, name: str, fn: Callable, *, input=None, timeout=None, description=None) -> None:
        self.entries[name] = {"handler": fn, "input": input, "timeout": timeout, "description": description}

    def lifecycle(self, hook: str):
        """Marks ``fn(ctx)`` as the ``startup``, ``shutdown`` or ``reload`` hook."""
        if hook not in ("startup", "shutdown", "reload"):
            raise ValueError(f"unknown lifecycle hook {hook!r}")

        def wrap(fn: Callable) -> Callable:
            self.hooks[hook] = fn
            return fn

        return wrap

    def timer(self, every: float, name: Optional[str] = None):
        """Marks ``fn(ctx)`` as a timer fired every ``every`` seconds (each fire is a run)."""

        def wrap(fn: Callable) -> Callable:
            self.timers[name or fn.__name__] = {"every": every, "handler": fn}
            return fn

        return wrap

    def on_event(self, type_: str):
        """Marks ``fn(data, ctx, event)`` as a subscriber of a domain or ``custom:<plugin>.<name>`` event."""

        def wrap(fn: Callable) -> Callable:
            self.events[type_] = fn
            return fn

        return wrap


def define_plugin(
    entries: Optional[Dict[str, Any]] = None,
    startup: Optional[Callable] = None,
    shutdown: Optional[Callable] = None,
    reload: Optional[Callable] = None,
    timers: Optional[Dict[str, Dict[str, Any]]] = None,
    events: Optional[Dict[str, Callable]] = None,
) -> Plugin:
    """The functional form, like TypeScript's definePlugin: entries are functions or dicts with ``handler``."""
    p = Plugin()
    for name, e in (entries or {}).items():
        if callable(e):
            p.add_entry(name, e)
        else:
            p.add_entry(name, e["handler"], input=e.get("input"), timeout=e.get("timeout"), description=e.get("description"))
    for hook, fn in (("startup", startup), ("shutdown", shutdown), ("reload", reload)):
        if fn:
            p.hooks[hook] = fn
    for name, t in (timers or {}).items():
        p.timers[name] = {"every": t["every"], "handler": t["handler"]}
    p.events.update(events or {})
    return p


def entry_names(p: Plugin) -> List[str]:
    return list(p.entries)
