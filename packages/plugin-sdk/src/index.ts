/**
 * @rwc/plugin-sdk: write a RealWorldClaw plugin.
 *
 * ```ts
 * import { definePlugin } from '@rwc/plugin-sdk';
 * export default definePlugin({
 *   entries: { hello: async (args: { name: string }, ctx) => `hello ${args.name}` },
 *   startup: async (ctx) => ctx.log.info('up'),
 * });
 * ```
 * Class decorators (`@entry`, `@lifecycle`, `@timer`, `@onEvent`) are optional sugar over the same
 * object; see `pluginFromClass`.
 */
import type { EntryDefinition, JsonSchema, PluginDefinition, RunContext } from './types.ts';

export * from './types.ts';
export {
  HOST_API_VERSION,
  PROTOCOL_VERSIONS,
  SDK_VERSION,
  type PushMessage,
  type RunExport,
} from './protocol.ts';

/** Identity helper that only gives types: a plugin may export the object without importing the SDK. */
export function definePlugin<C = Record<string, unknown>>(definition: PluginDefinition<C>): PluginDefinition<C> {
  return definition;
}

// ---- decorators (TypeScript 5 standard decorators; no reflect-metadata) ----------------------------

type Registration =
  | { kind: 'entry'; key: string; name: string; opts: Omit<EntryDefinition, 'handler'> }
  | { kind: 'lifecycle'; key: string; hook: 'startup' | 'shutdown' | 'reload' }
  | { kind: 'timer'; key: string; name: string; every: number }
  | { kind: 'event'; key: string; type: string };

const registrations = new WeakMap<object, Registration[]>();

function register(reg: Registration) {
  return (_value: unknown, context: ClassMethodDecoratorContext) => {
    context.addInitializer(function (this: unknown) {
      const list = registrations.get(this as object) ?? [];
      list.push(reg);
      registrations.set(this as object, list);
    });
  };
}

/** Marks a method `(args, ctx) => result` as an entry. */
export function entry(opts: { name?: string; input?: JsonSchema; timeout?: number; description?: string } = {}) {
  return (value: unknown, context: ClassMethodDecoratorContext) => {
    const key = String(context.name);
    const { name, ...rest } = opts;
    return register({ kind: 'entry', key, name: name ?? key, opts: rest })(value, context);
  };
}

/** Marks a method `(ctx) => void` as a lifecycle hook. */
export function lifecycle(hook: 'startup' | 'shutdown' | 'reload') {
  return (value: unknown, context: ClassMethodDecoratorContext) =>
    register({ kind: 'lifecycle', key: String(context.name), hook })(value, context);
}

/** Marks a method `(ctx) => void` as a timer fired every `every` seconds. */
export function timer(opts: { every: number; name?: string }) {
  return (value: unknown, context: ClassMethodDecoratorContext) =>
    register({ kind: 'timer', key: String(context.name), name: opts.name ?? String(context.name), every: opts.every })(value, context);
}

/** Marks a method `(data, ctx, event) => void` as a subscriber of a domain or custom event. */
export function onEvent(type: string) {
  return (value: unknown, context: ClassMethodDecoratorContext) => register({ kind: 'event', key: String(context.name), type })(value, context);
}

/** Turns a decorated class into the PluginDefinition the host loads (one instance per process). */
export function pluginFromClass<C = Record<string, unknown>>(cls: new () => object): PluginDefinition<C> {
  const instance = new cls() as Record<string, (...args: any[]) => any>;
  const def: PluginDefinition<C> = { entries: {}, timers: {}, events: {} };
  for (const reg of registrations.get(instance) ?? []) {
    const fn = instance[reg.key]!.bind(instance);
    if (reg.kind === 'entry') def.entries![reg.name] = { ...reg.opts, handler: fn };
    else if (reg.kind === 'lifecycle') def[reg.hook] = fn;
    else if (reg.kind === 'timer') def.timers![reg.name] = { every: reg.every, handler: fn as (ctx: RunContext<C>) => unknown };
    else def.events![reg.type] = fn;
  }
  return def;
}
