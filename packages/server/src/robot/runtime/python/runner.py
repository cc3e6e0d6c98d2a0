"""RealWorldClaw robot worker for Python projects (protocol 1).

The server spawns ``python3 -u runner.py`` with fd 3 as a socket pair and speaks newline-delimited
JSON on it (JSON-RPC 2.0 shaped, without the "jsonrpc" member):

* server -> worker requests ``{"id", "method", "params"}`` answered by ``{"id", "result"}`` or
  ``{"id", "error": {"code", "message", "data": {"type", "traceback"}}}``:
  ``load {projectDir, entry}`` (imports main.py, answers the objects and methods),
  ``call {object, method, args}``, ``stop {reason}`` (the project's stop()), ``start`` (its optional
  module-level start()), ``ping``.
* server -> worker notifications: ``cancel {id}`` (cooperative: sets the stop flag),
  ``shutdown {stop?}`` (exit; run stop() first when asked).
* worker -> server notifications: ``ready {pid, runtime, version, protocol}``,
  ``push {event, data, parentId?}``.

stdout and stderr stay free for the project's print() and tracebacks; the server logs them. Calls,
stop and start run in their own threads, so the read loop always answers stop and ping, even while
a long call runs (Jupyter's control-channel lesson, on one pipe). When fd 3 closes (the server went
away) the project's stop() runs, time-boxed, and the worker exits: a robot stops when its
controller goes away.
"""
import asyncio
import base64
import faulthandler
import importlib.util
import inspect
import json
import math
import os
import socket
import sys
import threading
import traceback
from concurrent.futures import ThreadPoolExecutor

import robot_runtime

PROTOCOL = 1
MAX_LINE = 8 * 1024 * 1024
EXIT_STOP_SECONDS = 3.0
_call_context = threading.local()
# Calls run on reused threads (starting a thread per call costs more than the whole round trip).
# The server sends one call at a time; spare threads serve calls abandoned after a timeout or
# e-stop that are still running. stop() always gets a thread of its own.
_calls = ThreadPoolExecutor(max_workers=32, thread_name_prefix="rwc-call")


def _jsonable(o):
    if isinstance(o, (set, frozenset)):
        return list(o)
    if isinstance(o, (bytes, bytearray)):
        return base64.b64encode(bytes(o)).decode("ascii")
    if hasattr(o, "tolist"):  # numpy arrays and scalars
        return o.tolist()
    if hasattr(o, "__dict__"):
        return {k: v for k, v in vars(o).items() if not k.startswith("_")}
    return str(o)


def _finite(o):
    """JSON has no NaN/Infinity (the server's JSON.parse refuses them): they travel as null."""
    if isinstance(o, float):
        return o if math.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _finite(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_finite(v) for v in o]
    return o


def _encode(msg):
    try:
        text = json.dumps(msg, ensure_ascii=False, default=_jsonable, allow_nan=False)
    except ValueError:
        text = json.dumps(_finite(json.loads(json.dumps(msg, default=_jsonable))), ensure_ascii=False)
    return text.encode("utf-8") + b"\n"


class Channel:
    """fd 3: one socket, both directions; writes serialised under a lock (pushes come from any thread)."""

    def __init__(self, fd):
        self.sock = socket.socket(fileno=fd)
        self.reader = self.sock.makefile("rb")
        self.lock = threading.Lock()

    def send(self, msg):
        line = _encode(msg)
        with self.lock:
            self.sock.sendall(line)

    def read(self):
        line = self.reader.readline(MAX_LINE + 1)
        if not line:
            return None
        if len(line) > MAX_LINE:
            raise ValueError("request line over %d bytes" % MAX_LINE)
        return json.loads(line)


channel = Channel(3)
project = None  # the loaded main module
project_objects = {}  # name -> instance (what load described)


def diag(text):
    sys.stderr.write("[rwc-worker] %s\n" % text)
    sys.stderr.flush()


def reply(req_id, result):
    try:
        channel.send({"id": req_id, "result": result})
    except (TypeError, ValueError) as e:
        fail(req_id, "result_not_json", "the method returned a value JSON cannot carry: %s" % e)


def fail(req_id, code, message, exc=None):
    data = {}
    if exc is not None:
        # The project's frames only: the runner's own are noise to the project's author.
        tb = exc.__traceback__
        while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
            tb = tb.tb_next
        data = {
            "type": type(exc).__name__,
            "traceback": "".join(traceback.format_exception(type(exc), exc, tb)),
        }
    channel.send({"id": req_id, "error": {"code": code, "message": message, "data": data}})


def push_message(event, data=None):
    if not isinstance(event, str) or not event:
        raise TypeError("push_message: event must be a non-empty string")
    params = {"event": event, "data": data}
    parent = getattr(_call_context, "id", None)
    if parent is not None:
        params["parentId"] = parent
    channel.send({"method": "push", "params": params})


robot_runtime._sender = push_message


# --- describing the project ------------------------------------------------------------------


def _first_doc_line(obj):
    doc = inspect.getdoc(obj)
    return doc.strip().splitlines()[0] if doc else None


def _param_default(value):
    try:
        json.dumps(value, allow_nan=False)
        return value
    except (TypeError, ValueError):
        return repr(value)


def _describe_callable(name, fn, motion):
    params = []
    try:
        for p in inspect.signature(fn).parameters.values():
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            entry = {"name": p.name, "required": p.default is p.empty}
            if p.default is not p.empty:
                entry["default"] = _param_default(p.default)
            params.append(entry)
    except (TypeError, ValueError):
        pass
    return {"name": name, "params": params, "motion": bool(motion), "doc": _first_doc_line(fn)}


_PLAIN = (int, float, str, bytes, bool, list, dict, tuple, set, frozenset, type(None))


def describe(mod):
    module_motion = set(getattr(mod, "__motion__", ()) or ())
    objects, functions = [], []
    project_objects.clear()
    for name, val in list(vars(mod).items()):
        if name.startswith("_") or name == "push_message":
            continue
        if inspect.ismodule(val) or inspect.isclass(val):
            continue
        if inspect.isfunction(val):
            if getattr(val, "__module__", None) != mod.__name__:
                continue  # imported helpers are not the project's API
            motion = getattr(val, "__robot_motion__", False) or name in module_motion
            functions.append(_describe_callable(name, val, motion))
            continue
        if isinstance(val, _PLAIN) or callable(val) or type(val).__module__ == "builtins":
            continue
        cls = type(val)
        object_motion = set(getattr(val, "__motion__", ()) or ())
        methods = []
        for attr in dir(cls):
            if attr.startswith("_"):
                continue
            raw = inspect.getattr_static(cls, attr, None)
            if isinstance(raw, property) or not callable(raw) and not isinstance(raw, (staticmethod, classmethod)):
                continue
            fn = getattr(val, attr, None)
            if not callable(fn):
                continue
            motion = (
                getattr(fn, "__robot_motion__", False) or attr in object_motion or ("%s.%s" % (name, attr)) in module_motion
            )
            methods.append(_describe_callable(attr, fn, motion))
        if methods:
            project_objects[name] = val
            objects.append({"name": name, "className": cls.__name__, "doc": _first_doc_line(cls), "methods": methods})
    return {
        "objects": objects,
        "functions": functions,
        "hooks": {
            "stop": callable(getattr(mod, "stop", None)) or any(callable(getattr(o, "stop", None)) for o in project_objects.values()),
            "start": callable(getattr(mod, "start", None)),
        },
    }


# --- requests --------------------------------------------------------------------------------


def handle_load(req_id, params):
    global project
    if project is not None:
        return fail(req_id, "already_loaded", "a project is already loaded; the server restarts the worker instead")
    project_dir = params["projectDir"]
    entry = params.get("entry") or "main.py"
    try:
        os.chdir(project_dir)
        sys.path.insert(0, project_dir)
        spec = importlib.util.spec_from_file_location("main", os.path.join(project_dir, entry))
        mod = importlib.util.module_from_spec(spec)
        # Injected before the first line runs (usable at import time) and again after, because the
        # seed's examples declare `push_message = None` at the top and expect the framework to fill it.
        mod.push_message = push_message
        sys.modules["main"] = mod
        spec.loader.exec_module(mod)
        if getattr(mod, "push_message", None) is None:
            mod.push_message = push_message
        project = mod
        reply(req_id, describe(mod))
    except BaseException as e:  # noqa: BLE001 - a project may raise anything, even SystemExit
        sys.modules.pop("main", None)
        fail(req_id, "load_failed", "%s: %s" % (type(e).__name__, e), e)


def _resolve(params):
    if project is None:
        raise LookupError("no project is loaded")
    obj_name = params.get("object") or ""
    method = params.get("method")
    if not isinstance(method, str) or not method:
        raise LookupError("params.method must name a method")
    if method.startswith("_") or obj_name.startswith("_"):
        raise LookupError("private names (starting with _) cannot be called")
    if obj_name:
        target = project_objects.get(obj_name)
        if target is None:
            raise LookupError(
                "the project has no object %r (objects: %s)" % (obj_name, ", ".join(sorted(project_objects)) or "none")
            )
        where = "%s.%s" % (obj_name, method)
    else:
        target = project
        where = method
    fn = getattr(target, method, None)
    if not callable(fn) or inspect.isclass(fn):
        raise LookupError("%s is not a method of the project" % where)
    if not obj_name and getattr(fn, "__module__", None) != project.__name__:
        raise LookupError("%s is not a function defined by the project" % where)
    return fn


def _run(req_id, fn, args):
    if args is None:
        result = fn()
    elif isinstance(args, dict):
        result = fn(**args)
    elif isinstance(args, list):
        result = fn(*args)
    else:
        raise TypeError("args must be an object (keyword arguments) or an array (positional arguments)")
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    return result


async def _await(awaitable):
    return await awaitable


def handle_call(req_id, params):
    robot_runtime._stop_event.clear()
    try:
        fn = _resolve(params)
    except LookupError as e:
        return fail(req_id, "not_found", str(e))

    def work():
        _call_context.id = req_id
        try:
            reply(req_id, _run(req_id, fn, params.get("args")))
        except BaseException as e:  # noqa: BLE001
            fail(req_id, "exception", "%s: %s" % (type(e).__name__, e), e)
        finally:
            _call_context.id = None

    _calls.submit(work)


def run_stop_hooks():
    """Every described object's stop() and the module-level stop(); returns (ran, first error)."""
    ran, error = [], None
    if project is None:
        return ran, error
    for name, obj in list(project_objects.items()):
        fn = getattr(obj, "stop", None)
        if callable(fn):
            try:
                fn()
                ran.append("%s.stop" % name)
            except BaseException as e:  # noqa: BLE001
                error = error or e
    fn = getattr(project, "stop", None)
    if callable(fn) and getattr(fn, "__module__", None) == project.__name__:
        try:
            fn()
            ran.append("stop")
        except BaseException as e:  # noqa: BLE001
            error = error or e
    return ran, error


def handle_stop(req_id, params):
    robot_runtime._stop_event.set()

    def work():
        ran, error = run_stop_hooks()
        if error is not None:
            fail(req_id, "stop_failed", "stop() raised %s: %s" % (type(error).__name__, error), error)
        else:
            reply(req_id, {"ran": ran})

    threading.Thread(target=work, name="rwc-stop", daemon=True).start()


def handle_start(req_id, params):
    fn = getattr(project, "start", None) if project is not None else None

    def work():
        try:
            reply(req_id, {"ran": True, "result": _run(req_id, fn, None)} if callable(fn) else {"ran": False})
        except BaseException as e:  # noqa: BLE001
            fail(req_id, "exception", "start() raised %s: %s" % (type(e).__name__, e), e)

    threading.Thread(target=work, name="rwc-start", daemon=True).start()


def stop_and_exit(code):
    """The server is gone (fd 3 closed) or asked us to exit: stop the project, time-boxed, then exit."""
    robot_runtime._stop_event.set()
    t = threading.Thread(target=run_stop_hooks, name="rwc-exit-stop", daemon=True)
    t.start()
    t.join(EXIT_STOP_SECONDS)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def main():
    faulthandler.enable()
    channel.send(
        {
            "method": "ready",
            "params": {"pid": os.getpid(), "runtime": "python", "version": sys.version.split()[0], "protocol": PROTOCOL},
        }
    )
    handlers = {"load": handle_load, "call": handle_call, "stop": handle_stop, "start": handle_start}
    while True:
        try:
            msg = channel.read()
        except (ValueError, OSError) as e:
            diag("unreadable request: %s" % e)
            continue
        if msg is None:
            stop_and_exit(0)
        method = msg.get("method")
        req_id = msg.get("id")
        params = msg.get("params") or {}
        if method == "ping":
            reply(req_id, {"pong": True, "threads": threading.active_count()})
        elif method == "cancel":
            robot_runtime._stop_event.set()
        elif method == "shutdown":
            # The server ran stop() before asking, unless it says otherwise.
            if params.get("stop"):
                stop_and_exit(0)
            os._exit(0)
        elif method in handlers and req_id is not None:
            handlers[method](req_id, params)
        elif req_id is not None:
            fail(req_id, "unknown_method", "unknown request %r" % method)


if __name__ == "__main__":
    main()
