/**
 * RealWorldClaw robot worker for JavaScript/TypeScript projects (protocol 1): the same JSON lines on
 * fd 3 as the Python worker (runner.py documents the messages). main.ts runs through tsx, which the
 * server adds with `--import`.
 *
 * Targets: a project's named exports (and the properties of an exported default object). An object
 * with methods is callable as `object.method`; an exported function as `method` with no object.
 * `args`: an array is spread as positional arguments; an object is passed as the single argument
 * (JavaScript has no keyword arguments: write `Move({ vx, vy, vyaw })`).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import net from 'node:net';
import { register } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import * as runtime from './robot_runtime.mjs';

register('./hooks.mjs', import.meta.url);

const PROTOCOL = 1;
const MAX_LINE = 8 * 1024 * 1024;
const EXIT_STOP_MS = 3000;
const callContext = new AsyncLocalStorage();
const channel = new net.Socket({ fd: 3, readable: true, writable: true });

let project = null;
const objects = new Map();

function replacer(_key, value) {
  return typeof value === 'bigint' ? value.toString() : value;
}

function send(msg) {
  channel.write(`${JSON.stringify(msg, replacer)}\n`);
}

function reply(id, result) {
  let line;
  try {
    line = JSON.stringify({ id, result: result === undefined ? null : result }, replacer);
  } catch (err) {
    return fail(id, 'result_not_json', `the method returned a value JSON cannot carry: ${err.message}`);
  }
  channel.write(`${line}\n`);
}

/** The project's stack frames only (the runner's own and Node's internals are noise to its author). */
function projectStack(err) {
  const here = new URL('.', import.meta.url).pathname;
  return (err.stack ?? String(err))
    .split('\n')
    .filter((line) => !line.includes(here) && !line.includes('(node:internal') && !/at node:internal/.test(line))
    .join('\n');
}

function fail(id, code, message, err) {
  const data = err instanceof Error ? { type: err.name, traceback: projectStack(err) } : {};
  send({ id, error: { code, message, data } });
}

function describeError(err) {
  return err instanceof Error ? `${err.name}: ${err.message}` : `thrown: ${String(err)}`;
}

function pushMessage(event, data = null) {
  if (typeof event !== 'string' || !event) throw new TypeError('push_message: event must be a non-empty string');
  const params = { event, data };
  const parentId = callContext.getStore();
  if (parentId !== undefined) params.parentId = parentId;
  send({ method: 'push', params });
}
runtime._worker.setSender(pushMessage);
globalThis.push_message = pushMessage;
globalThis.robot_runtime = runtime;

const moduleHook = (mod, name) => new Map(exportsOf(mod)).get(name);
const isClass = (fn) => /^class[\s{]/.test(Function.prototype.toString.call(fn));

/** Public method names of an object: own and inherited, up to (not including) Object.prototype. */
function methodNames(obj) {
  const names = new Set();
  for (let p = obj; p && p !== Object.prototype && p !== Function.prototype; p = Object.getPrototypeOf(p)) {
    for (const name of Object.getOwnPropertyNames(p)) {
      if (name === 'constructor' || name.startsWith('_')) continue;
      const d = Object.getOwnPropertyDescriptor(p, name);
      if (d && typeof d.value === 'function') names.add(name);
    }
  }
  return [...names].sort();
}

function describeFn(name, fn, motion) {
  return { name, params: [], arity: fn.length, motion: !!motion, doc: null };
}

/** Named exports, plus the properties of a default-exported object (a CommonJS module's exports). */
function exportsOf(mod) {
  const out = new Map(Object.entries(mod).filter(([k]) => k !== 'default'));
  const d = mod.default;
  if (d && typeof d === 'object' && !Array.isArray(d)) {
    for (const [k, v] of Object.entries(d)) if (!out.has(k)) out.set(k, v);
  } else if (typeof d === 'function' && !isClass(d)) out.set('default', d);
  return [...out];
}

function describe(mod) {
  const moduleMotion = new Set(Array.isArray(mod.__motion__) ? mod.__motion__ : []);
  const described = { objects: [], functions: [], hooks: { stop: false, start: false } };
  objects.clear();
  for (const [name, value] of exportsOf(mod)) {
    if (name.startsWith('_')) continue;
    if (typeof value === 'function') {
      if (isClass(value)) continue;
      described.functions.push(describeFn(name, value, value.__robot_motion__ || moduleMotion.has(name)));
    } else if (value && typeof value === 'object' && !Array.isArray(value)) {
      const names = methodNames(value);
      if (!names.length) continue;
      const objectMotion = new Set(Array.isArray(value.__motion__) ? value.__motion__ : []);
      objects.set(name, value);
      described.objects.push({
        name,
        className: value.constructor && value.constructor !== Object ? value.constructor.name : 'Object',
        doc: null,
        methods: names.map((m) =>
          describeFn(m, value[m], value[m].__robot_motion__ || objectMotion.has(m) || moduleMotion.has(`${name}.${m}`)),
        ),
      });
    }
  }
  described.hooks.stop = typeof moduleHook(mod, 'stop') === 'function' || [...objects.values()].some((o) => typeof o.stop === 'function');
  described.hooks.start = typeof moduleHook(mod, 'start') === 'function';
  return described;
}

async function handleLoad(id, params) {
  if (project) return fail(id, 'already_loaded', 'a project is already loaded; the server restarts the worker instead');
  try {
    process.chdir(params.projectDir);
    const entry = path.join(params.projectDir, params.entry || 'main.js');
    project = await import(pathToFileURL(entry).href);
    reply(id, describe(project));
  } catch (err) {
    project = null;
    fail(id, 'load_failed', describeError(err), err);
  }
}

function resolveTarget(params) {
  if (!project) throw new Error('no project is loaded');
  const objectName = params.object || '';
  const method = params.method;
  if (typeof method !== 'string' || !method) throw new Error('params.method must name a method');
  if (method.startsWith('_') || objectName.startsWith('_') || method === 'constructor') {
    throw new Error('private names (starting with _) cannot be called');
  }
  if (objectName) {
    const target = objects.get(objectName);
    if (!target) {
      throw new Error(`the project has no object '${objectName}' (objects: ${[...objects.keys()].sort().join(', ') || 'none'})`);
    }
    if (!methodNames(target).includes(method)) throw new Error(`${objectName}.${method} is not a method of the project`);
    return { target, fn: target[method] };
  }
  const fn = new Map(exportsOf(project)).get(method);
  if (typeof fn !== 'function' || isClass(fn)) throw new Error(`${method} is not a function exported by the project`);
  return { target: undefined, fn };
}

async function invoke(target, fn, args) {
  if (args === undefined || args === null) return fn.call(target);
  if (Array.isArray(args)) return fn.apply(target, args);
  if (typeof args === 'object') return fn.call(target, args);
  throw new TypeError('args must be an object (passed as one argument) or an array (positional arguments)');
}

async function handleCall(id, params) {
  runtime._worker.setStop(false);
  let resolved;
  try {
    resolved = resolveTarget(params);
  } catch (err) {
    return fail(id, 'not_found', err.message);
  }
  await callContext.run(id, async () => {
    try {
      reply(id, await invoke(resolved.target, resolved.fn, params.args));
    } catch (err) {
      fail(id, 'exception', describeError(err), err);
    }
  });
}

/** Every described object's stop() and the module's stop(); resolves {ran, error}. */
async function runStopHooks() {
  const ran = [];
  let error = null;
  if (!project) return { ran, error };
  for (const [name, obj] of objects) {
    if (typeof obj.stop !== 'function') continue;
    try {
      await obj.stop();
      ran.push(`${name}.stop`);
    } catch (err) {
      error ??= err;
    }
  }
  const stop = moduleHook(project, 'stop');
  if (typeof stop === 'function') {
    try {
      await stop();
      ran.push('stop');
    } catch (err) {
      error ??= err;
    }
  }
  return { ran, error };
}

async function handleStop(id) {
  runtime._worker.setStop(true);
  const { ran, error } = await runStopHooks();
  if (error) fail(id, 'stop_failed', `stop() raised ${describeError(error)}`, error);
  else reply(id, { ran });
}

async function handleStart(id) {
  const start = project ? moduleHook(project, 'start') : null;
  if (typeof start !== 'function') return reply(id, { ran: false });
  try {
    reply(id, { ran: true, result: (await start()) ?? null });
  } catch (err) {
    fail(id, 'exception', `start() raised ${describeError(err)}`, err);
  }
}

async function stopAndExit(code) {
  runtime._worker.setStop(true);
  await Promise.race([runStopHooks(), new Promise((r) => setTimeout(r, EXIT_STOP_MS))]);
  process.exit(code);
}

function onMessage(msg) {
  const { id, method } = msg;
  const params = msg.params ?? {};
  switch (method) {
    case 'ping':
      return reply(id, { pong: true });
    case 'cancel':
      return runtime._worker.setStop(true);
    case 'shutdown':
      return params.stop ? stopAndExit(0) : process.exit(0);
    case 'load':
      return handleLoad(id, params);
    case 'call':
      return handleCall(id, params);
    case 'stop':
      return handleStop(id);
    case 'start':
      return handleStart(id);
    default:
      if (id !== undefined) fail(id, 'unknown_method', `unknown request '${method}'`);
  }
}

let buffered = '';
channel.setEncoding('utf8');
channel.on('data', (chunk) => {
  buffered += chunk;
  for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
    const line = buffered.slice(0, nl);
    buffered = buffered.slice(nl + 1);
    if (!line.trim()) continue;
    try {
      onMessage(JSON.parse(line));
    } catch (err) {
      process.stderr.write(`[rwc-worker] unreadable request: ${err.message}\n`);
    }
  }
  if (buffered.length > MAX_LINE) {
    process.stderr.write('[rwc-worker] request line too long; dropped\n');
    buffered = '';
  }
});
// The server went away: stop the project (time-boxed) and exit.
channel.on('end', () => stopAndExit(0));
channel.on('error', () => stopAndExit(0));

send({ method: 'ready', params: { pid: process.pid, runtime: 'node', version: process.versions.node, protocol: PROTOCOL } });
