/**
 * Plugin config at rest: defaults from the schema, secret fields (`writeOnly`/`secret` in the
 * schema) sealed with the server's SecretBox before they reach the database.
 */
import type { SecretBox } from '../storage/secrets.ts';
import { SecretBox as Box } from '../storage/secrets.ts';
import { validateAgainst } from './json-schema.ts';
import type { PluginManifest } from './manifest.ts';

export class PluginConfigs {
  constructor(private readonly secrets: SecretBox) {}

  /** The schema's defaults (or {} when the schema requires fields that have none). */
  defaults(m: PluginManifest): Record<string, unknown> {
    try {
      return validateAgainst<Record<string, unknown>>(m.config.schema, {}, 'config');
    } catch {
      return {};
    }
  }

  secretFields(m: PluginManifest): string[] {
    return m.config.secretFields;
  }

  seal(m: PluginManifest, config: Record<string, unknown>): string {
    const sealed = { ...config };
    for (const f of this.secretFields(m)) {
      const v = sealed[f];
      if (typeof v === 'string' && v !== '') sealed[f] = this.secrets.encrypt(v);
    }
    return JSON.stringify(sealed);
  }

  unseal(m: PluginManifest, json: string): Record<string, unknown> {
    let raw: Record<string, unknown>;
    try {
      raw = JSON.parse(json);
    } catch {
      return this.defaults(m);
    }
    for (const [k, v] of Object.entries(raw)) {
      if (Box.isSealed(v)) {
        try {
          raw[k] = this.secrets.decrypt(v);
        } catch {
          delete raw[k];
        }
      }
    }
    return raw;
  }
}
