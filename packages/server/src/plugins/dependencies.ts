/**
 * Plugin-on-plugin dependencies (seed 004: recommended / supported / untested / conflicts) and the
 * start order. Pure: inputs are manifests and what is installed.
 */
import semver from 'semver';
import type { PluginDependency, PluginManifest } from './manifest.ts';

export type DependencyVerdict =
  | { ok: true; notes: string[] }
  | { ok: false; code: 'dependency_missing' | 'dependency_conflict' | 'dependency_unsupported' | 'dependency_cycle'; message: string };

/** Whether one dependency is met by the installed version (undefined = not installed). */
export function judgeDependency(dep: PluginDependency, installed: string | undefined): DependencyVerdict {
  if (installed === undefined) {
    return dep.optional
      ? { ok: true, notes: [`optional dependency ${dep.id} is not installed`] }
      : { ok: false, code: 'dependency_missing', message: `needs plugin ${dep.id}, which is not installed` };
  }
  const sat = (r?: string) => r !== undefined && semver.satisfies(installed, r, { includePrerelease: true });
  if (sat(dep.conflicts)) return { ok: false, code: 'dependency_conflict', message: `conflicts with ${dep.id} ${installed} (${dep.conflicts})` };
  if (sat(dep.recommended)) return { ok: true, notes: [] };
  if (sat(dep.supported)) {
    return { ok: true, notes: dep.recommended ? [`${dep.id} ${installed} is supported; ${dep.recommended} is recommended`] : [] };
  }
  if (sat(dep.untested)) return { ok: true, notes: [`${dep.id} ${installed} is untested with this plugin`] };
  // Only a conflicts range given: anything else is fine.
  if (!dep.recommended && !dep.supported && !dep.untested) return { ok: true, notes: [] };
  const wanted = [dep.recommended, dep.supported, dep.untested].filter(Boolean).join(' or ');
  return { ok: false, code: 'dependency_unsupported', message: `needs ${dep.id} ${wanted}, found ${installed}` };
}

/** Judges all of a plugin's dependencies; the first failure wins, notes are collected. */
export function judgeDependencies(m: Pick<PluginManifest, 'dependencies'>, installed: Map<string, string>): DependencyVerdict {
  const notes: string[] = [];
  for (const dep of m.dependencies) {
    const v = judgeDependency(dep, installed.get(dep.id));
    if (!v.ok) return v;
    notes.push(...v.notes);
  }
  return { ok: true, notes };
}

/**
 * Orders plugins so dependencies start first. Plugins on a dependency cycle are returned in
 * `cyclic` (they do not start); the rest keep their input order where no edge says otherwise.
 */
export function startOrder(manifests: Array<Pick<PluginManifest, 'id' | 'dependencies'>>): { order: string[]; cyclic: string[] } {
  const byId = new Map(manifests.map((m) => [m.id, m]));
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const cyclic = new Set<string>();
  const visit = (id: string, stack: string[]): void => {
    const s = state.get(id);
    if (s === 'done') return;
    if (s === 'visiting') {
      for (const x of stack.slice(stack.indexOf(id))) cyclic.add(x);
      return;
    }
    state.set(id, 'visiting');
    for (const d of byId.get(id)?.dependencies ?? []) if (byId.has(d.id)) visit(d.id, [...stack, id]);
    state.set(id, 'done');
    order.push(id);
  };
  for (const m of manifests) visit(m.id, []);
  return { order: order.filter((id) => !cyclic.has(id)), cyclic: [...cyclic] };
}
