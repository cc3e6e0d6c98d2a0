"""The process a Python plugin runs in: ``python3 -m rwc_plugin.runner`` with the fd-3 socket pair.

Same wire protocol as the Node runner (packages/plugin-sdk/src/protocol.ts): newline-delimited
JSON-RPC, hello → load → start → calls, events and pings. A reader thread hands every message to
the asyncio loop; pings are answered on that loop, so a plugin that blocks it stops answering and
the host sees it. Plain (non-async) handlers run in a thread pool.
"""

from __future__ import annotations

import asyncio
import base64
import importlib.util
import inspect
import json
import os
import resource
import socket
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, Optional

from .sdk import HOST_API_VERSION, PROTOCOL_VERSIONS, SDK_VERSION, BusList, Plugin, PluginError, define_plugin


class Channel:
    """NDJSON JSON-RPC over the fd-3 socket; writes from any thread are serialised by a lock."""

    def __init__(self, loop: asyncio.AbstractEventLoop, on_request, on_notification):
        self.sock = socket.socket(fileno=3)
        self.reader = self.sock.makefile("rb")
        self.loop = loop
        self.lock = threading.Lock()
        self.next_id = 1
        self.pending: Dict[int, asyncio.Future] = {}
        self.on_request = on_request
        self.on_notification = on_notification

    def write(self, msg: dict) -> None:
        try:
            line = json.dumps(msg, separators=(",", ":"), default=_json_default)
        except (TypeError, ValueError) as err:
            line = json.dumps({"id": msg.get("id"), "error": {"code": "unserializable", "message": str(err)}})
        with self.lock:
            self.sock.sendall(line.encode("utf-8") + b"\n")

    def notify(self, method: str, params: Any) -> None:
        self.write({"method": method, "params": params})

    def request(self, method: str, params: Any) -> "asyncio.Future":
        """Sends a request; the future (on the loop) resolves with the result. Call from the loop."""
        with self.lock:
            rid = self.next_id
            self.next_id += 1
        fut = self.loop.create_future()
        self.pending[rid] = fut
        self.write({"id": rid, "method": method, "params": params})
        return fut

    def read_forever(self) -> None:
        for raw in self.reader:
            try:
                msg = json.loads(raw)
            except ValueError:
                continue
            self.loop.call_soon_threadsafe(self._dispatch, msg)
        # The host is gone: nothing can reach this plugin any more.
        os._exit(0)

    def _dispatch(self, msg: dict) -> None:
        if isinstance(msg.get("method"), str):
            if isinstance(msg.get("id"), int):
                self.loop.create_task(self._answer(msg["id"], msg["method"], msg.get("params")))
            else:
                self.on_notification(msg["method"], msg.get("params"))
            return
        fut = self.pending.pop(msg.get("id"), None)
        if fut is None or fut.done():
            return
        if "error" in msg and msg["error"]:
            e = msg["error"]
            fut.set_exception(PluginError(str(e.get("code", "plugin_error")), str(e.get("message", "error")), e.get("data")))
        else:
            fut.set_result(msg.get("result"))

    async def _answer(self, rid: int, method: str, params: Any) -> None:
        try:
            result = await self.on_request(method, params)
            self.write({"id": rid, "result": result})
        except Exception as err:  # noqa: BLE001 - every failure goes back as an error answer
            self.write({"id": rid, "error": _wire_error(err)})


def _json_default(v: Any):
    if isinstance(v, (bytes, bytearray)):
        return base64.b64encode(v).decode("ascii")
    if isinstance(v, (set, tuple)):
        return list(v)
    raise TypeError(f"{type(v).__name__} is not JSON serialisable")


def _wire_error(err: BaseException) -> dict:
    code = getattr(err, "code", None)
    if not isinstance(code, str) or not code.replace("_", "").isalnum() or not code[:1].islower():
        code = "plugin_error"
    out = {"code": code, "message": str(getattr(err, "message", None) or err) or type(err).__name__}
    if not isinstance(err, PluginError):
        out["data"] = {"traceback": traceback.format_exc(limit=8)}
    return out


class Runner:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.loop_thread = threading.current_thread()
        self.pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="plugin")
        self.channel = Channel(self.loop, self.handle, self.on_notification)
        self.plugin: Plugin = Plugin()
        self.config: Dict[str, Any] = {}
        self.plugin_id = ""
        self.data_dir = ""
        self.ctx: Optional[Context] = None
        self.runs: Dict[str, threading.Event] = {}

    # -- host calls, usable from the loop (awaitable) and from pool threads (blocking) --

    def host_call(self, method: str, params: Any):
        if threading.current_thread() is self.loop_thread:
            return self.channel.request(method, params)
        fut = asyncio.run_coroutine_threadsafe(self._request(method, params), self.loop)
        return fut.result()

    async def _request(self, method: str, params: Any):
        return await self.channel.request(method, params)

    async def call_handler(self, fn, *args):
        if inspect.iscoroutinefunction(fn):
            return await fn(*args)
        result = await self.loop.run_in_executor(self.pool, lambda: fn(*args))
        if inspect.isawaitable(result):
            result = await result
        return result

    # -- protocol --

    def load(self, p: dict) -> dict:
        self.config = p.get("config") or {}
        self.plugin_id = p["pluginId"]
        self.data_dir = p["dataDir"]
        entry = p["entry"]
        sys.path.insert(0, os.path.dirname(entry))
        spec = importlib.util.spec_from_file_location("rwc_plugin_entry", entry)
        if spec is None or spec.loader is None:
            raise PluginError("bad_plugin", f"cannot load {entry}")
        module = importlib.util.module_from_spec(spec)
        sys.modules["rwc_plugin_entry"] = module
        spec.loader.exec_module(module)
        plugin = getattr(module, "plugin", None)
        if isinstance(plugin, dict):
            plugin = define_plugin(**plugin)
        if not isinstance(plugin, Plugin):
            raise PluginError("bad_plugin", "the entry file must define `plugin = Plugin()` (or define_plugin(...))")
        self.plugin = plugin
        self.ctx = Context(self, None)
        return {
            "entries": [
                {k: v for k, v in {"name": n, "description": e.get("description"), "input": e.get("input"), "timeout": e.get("timeout")}.items() if v is not None}
                for n, e in plugin.entries.items()
            ],
            "timers": [{"name": n, "every": t["every"]} for n, t in plugin.timers.items()],
            "subscriptions": list(plugin.events),
            "hooks": [h for h in ("startup", "shutdown", "reload") if h in plugin.hooks],
            "printerDrivers": [],
        }

    async def invoke(self, p: dict):
        name = p["entry"]
        if name.startswith("timer:"):
            timer = self.plugin.timers.get(name[6:])
            if not timer:
                raise PluginError("no_such_entry", f"no timer {name[6:]}")
            fn, args = timer["handler"], None
        else:
            e = self.plugin.entries.get(name)
            if not e:
                raise PluginError("no_such_entry", f'this plugin has no entry "{name}"')
            fn, args = e["handler"], p.get("args")
        cancelled = threading.Event()
        self.runs[p["runId"]] = cancelled
        ctx = Context(self, {"id": p["runId"], "entry": name, "trigger": p.get("trigger"), "deadline": p.get("deadline"), "cancelled": cancelled})
        try:
            return await (self.call_handler(fn, ctx) if args is None else self.call_handler(fn, args, ctx))
        finally:
            self.runs.pop(p["runId"], None)

    async def handle(self, method: str, p: Any):
        if method == "ping":
            return {"rssBytes": _rss_bytes(), "heapUsedBytes": 0}
        if method == "load":
            return self.load(p)
        if method == "start":
            if "startup" in self.plugin.hooks:
                await self.call_handler(self.plugin.hooks["startup"], self.ctx)
            return {}
        if method == "invoke":
            return await self.invoke(p)
        if method == "lifecycle":
            hook = p.get("hook")
            if hook == "configChanged":
                self.config = p.get("config") or self.config
                hook = "reload"
            if hook in self.plugin.hooks:
                await self.call_handler(self.plugin.hooks[hook], self.ctx)
            if hook == "shutdown":
                self.loop.call_later(0.05, lambda: os._exit(0))
            return {}
        if method.startswith("driver."):
            raise PluginError("not_supported", "printer drivers are only supported in Node plugins for now")
        raise PluginError("no_such_method", f"unknown method {method}")

    def on_notification(self, method: str, p: Any) -> None:
        if method == "cancel":
            ev = self.runs.get((p or {}).get("runId"))
            if ev:
                ev.set()
        elif method == "event":
            fn = self.plugin.events.get(p.get("type"))
            if fn:
                self.loop.create_task(self._deliver(fn, p))

    async def _deliver(self, fn, p: dict) -> None:
        try:
            await self.call_handler(fn, p.get("data"), self.ctx, {"type": p.get("type"), "at": p.get("at")})
        except Exception as err:  # noqa: BLE001
            self.ctx.log.error(f"event handler {p.get('type')} failed: {err}")

    def run(self) -> None:
        asyncio.set_event_loop(self.loop)
        threading.Thread(target=self.channel.read_forever, name="rwc-reader", daemon=True).start()
        self.channel.notify(
            "hello",
            {
                "protocolVersions": PROTOCOL_VERSIONS,
                "apiVersion": HOST_API_VERSION,
                "sdk": {"lang": "python", "version": SDK_VERSION},
                "cookie": os.environ.pop("RWC_PLUGIN_COOKIE", ""),
                "pid": os.getpid(),
            },
        )
        self.loop.run_forever()


def _rss_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Log:
    def __init__(self, runner: Runner):
        self._r = runner

    def _log(self, level: str, msg: str, fields: Optional[dict] = None) -> None:
        self._r.channel.notify("log", {"level": level, "msg": str(msg), "fields": fields})

    def debug(self, msg, fields=None):
        self._log("debug", msg, fields)

    def info(self, msg, fields=None):
        self._log("info", msg, fields)

    def warn(self, msg, fields=None):
        self._log("warn", msg, fields)

    def error(self, msg, fields=None):
        self._log("error", msg, fields)


class _Config:
    def __init__(self, runner: Runner):
        self._r = runner

    def get(self) -> dict:
        return self._r.config

    def update(self, patch: dict):
        r = self._r
        if threading.current_thread() is r.loop_thread:

            async def go():
                r.config = await r.channel.request("config.update", {"patch": patch})
                return r.config

            return go()
        r.config = r.host_call("config.update", {"patch": patch})
        return r.config


class _Store:
    def __init__(self, runner: Runner):
        self._r = runner

    def get(self, key: str):
        res = self._r.host_call("store.get", {"key": key})
        if inspect.isawaitable(res):

            async def unwrap():
                return (await res or {}).get("value")

            return unwrap()
        return (res or {}).get("value")

    def set(self, key: str, value: Any):
        return self._r.host_call("store.set", {"key": key, "value": value})

    def delete(self, key: str):
        return self._r.host_call("store.delete", {"key": key})

    def keys(self):
        return self._r.host_call("store.keys", {})


class _BusTopic:
    def __init__(self, runner: Runner, topic: str):
        self._r = runner
        self._topic = topic

    def recent(self, limit: int = 50, type: Optional[str] = None, since: Optional[str] = None, plugin_id: Optional[str] = None):
        q = {"topic": self._topic, "limit": limit}
        if type:
            q["type"] = type
        if since:
            q["since"] = since
        if plugin_id:
            q["pluginId"] = plugin_id
        res = self._r.host_call("bus.recent", q)
        if inspect.isawaitable(res):

            async def wrap():
                return BusList(await res)

            return wrap()
        return BusList(res)


class _Bus:
    def __init__(self, runner: Runner):
        self.messages = _BusTopic(runner, "messages")
        self.events = _BusTopic(runner, "events")
        self.lifecycle = _BusTopic(runner, "lifecycle")
        self.runs = _BusTopic(runner, "runs")


class _Plugins:
    def __init__(self, runner: Runner, parent_run_id: Optional[str]):
        self._r = runner
        self._parent = parent_run_id

    def call(self, plugin_id: str, entry: str, args: Any = None, timeout_ms: Optional[int] = None):
        return self._r.host_call(
            "plugins.call",
            {"target": plugin_id, "entry": entry, "args": args or {}, "timeoutMs": timeout_ms, "parentRunId": self._parent},
        )


class _Printers:
    def __init__(self, runner: Runner):
        self._r = runner

    def list(self):
        return self._r.host_call("printers.list", {})

    def snapshot(self, printer_id: str):
        res = self._r.host_call("printers.snapshot", {"printerId": printer_id})
        decode = lambda r: base64.b64decode(r["base64"]) if r else None  # noqa: E731
        if inspect.isawaitable(res):

            async def wrap():
                return decode(await res)

            return wrap()
        return decode(res)


class _Run:
    """The run a handler works for: progress, stage, metrics, exports, cancellation."""

    def __init__(self, runner: Runner, info: dict):
        self._r = runner
        self.id = info["id"]
        self.entry = info["entry"]
        self.trigger = info["trigger"]
        self.deadline = info["deadline"]
        self._cancelled: threading.Event = info["cancelled"]

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set() or (self.deadline is not None and time.time() * 1000 > self.deadline)

    def _update(self, **u) -> None:
        self._r.channel.notify("run.update", {"runId": self.id, **{k: v for k, v in u.items() if v is not None}})

    def progress(self, progress: float, stage: Optional[str] = None, message: Optional[str] = None) -> None:
        self._update(progress=progress, stage=stage, message=message)

    def stage(self, stage: str, message: Optional[str] = None) -> None:
        self._update(stage=stage, message=message)

    def metric(self, name: str, value: float) -> None:
        self._update(metrics={name: value})

    def export_text(self, name: str, text: str) -> None:
        self._update(exports=[{"kind": "text", "name": name, "text": text}])

    def export_url(self, name: str, url: str) -> None:
        self._update(exports=[{"kind": "url", "name": name, "url": url}])

    def export_binary(self, name: str, data: bytes, mime: str = "application/octet-stream") -> None:
        self._update(exports=[{"kind": "binary", "name": name, "mime": mime, "base64": base64.b64encode(data).decode("ascii")}])


class Context:
    """``ctx``: the plugin's view of the host (snake_case mirror of the TypeScript PluginContext)."""

    def __init__(self, runner: Runner, run: Optional[dict]):
        self._r = runner
        self.plugin_id = runner.plugin_id
        self.data_dir = runner.data_dir
        self.config = _Config(runner)
        self.store = _Store(runner)
        self.log = _Log(runner)
        self.bus = _Bus(runner)
        self.plugins = _Plugins(runner, run["id"] if run else None)
        self.printers = _Printers(runner)
        self.run = _Run(runner, run) if run else None

    def push_message(self, message, **kw) -> None:
        msg = {"text": message, **kw} if isinstance(message, str) else dict(message)
        self._r.channel.notify("message", msg)

    def emit(self, name: str, data: Any = None) -> None:
        self._r.channel.notify("emit", {"name": name, "data": data})


if __name__ == "__main__":
    Runner().run()
