/**
 * One log file per plugin (`<dataDir>/plugins/logs/<id>.log`), rotated by size (`.1`, `.2`, …),
 * plus the last lines in memory for the API and live followers. Lines come from the plugin's
 * stdout/stderr, its ctx.log calls and the host's own notes about it.
 */
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';

export interface LogLine {
  at: string;
  /** `stdout`, `stderr`, `debug`, `info`, `warn`, `error`, `host`. */
  level: string;
  text: string;
}

export interface LogOptions {
  dir: string;
  /** Rotate when the file passes this size. */
  maxBytes: number;
  /** Rotated files kept besides the current one. */
  keep: number;
  /** Lines kept in memory per plugin. */
  memoryLines: number;
  now: () => number;
}

export class PluginLogs {
  #o: LogOptions;
  #ring = new Map<string, LogLine[]>();
  #sizes = new Map<string, number>();
  #fds = new Map<string, number>();
  readonly follow = new EventEmitter();

  constructor(opts: LogOptions) {
    this.#o = opts;
    fs.mkdirSync(opts.dir, { recursive: true });
    this.follow.setMaxListeners(0);
  }

  file(pluginId: string): string {
    return path.join(this.#o.dir, `${pluginId}.log`);
  }

  write(pluginId: string, level: string, text: string): void {
    const line: LogLine = { at: new Date(this.#o.now()).toISOString(), level, text: text.length > 8000 ? `${text.slice(0, 8000)}…` : text };
    let ring = this.#ring.get(pluginId);
    if (!ring) this.#ring.set(pluginId, (ring = []));
    ring.push(line);
    if (ring.length > this.#o.memoryLines) ring.splice(0, ring.length - this.#o.memoryLines);
    this.follow.emit(pluginId, line);
    const out = `${line.at} ${level.padEnd(6)} ${line.text}\n`;
    try {
      this.#append(pluginId, out);
    } catch {
      // A full disk must not take plugin supervision down; the memory ring still has the line.
    }
  }

  #append(pluginId: string, out: string): void {
    const file = this.file(pluginId);
    let fd = this.#fds.get(pluginId);
    if (fd === undefined) {
      fd = fs.openSync(file, 'a');
      this.#fds.set(pluginId, fd);
      this.#sizes.set(pluginId, fs.fstatSync(fd).size);
    }
    const bytes = Buffer.byteLength(out);
    if ((this.#sizes.get(pluginId) ?? 0) + bytes > this.#o.maxBytes) {
      fs.closeSync(fd);
      for (let i = this.#o.keep; i >= 1; i--) {
        const from = i === 1 ? file : `${file}.${i - 1}`;
        if (fs.existsSync(from)) fs.renameSync(from, `${file}.${i}`);
      }
      fd = fs.openSync(file, 'a');
      this.#fds.set(pluginId, fd);
      this.#sizes.set(pluginId, 0);
    }
    fs.writeSync(fd, out);
    this.#sizes.set(pluginId, (this.#sizes.get(pluginId) ?? 0) + bytes);
  }

  /** The last `n` lines: from memory, or from the file after a restart. */
  tail(pluginId: string, n: number): LogLine[] {
    const ring = this.#ring.get(pluginId);
    if (ring?.length) return ring.slice(-n);
    try {
      const text = fs.readFileSync(this.file(pluginId), 'utf8');
      return text
        .split('\n')
        .filter(Boolean)
        .slice(-n)
        .map((l) => {
          const m = /^(\S+) (\S+)\s+(.*)$/.exec(l);
          return m ? { at: m[1]!, level: m[2]!, text: m[3]! } : { at: '', level: 'info', text: l };
        });
    } catch {
      return [];
    }
  }

  close(pluginId?: string): void {
    for (const [id, fd] of this.#fds) {
      if (pluginId && id !== pluginId) continue;
      try {
        fs.closeSync(fd);
      } catch {}
      this.#fds.delete(id);
    }
  }

  remove(pluginId: string): void {
    this.close(pluginId);
    this.#ring.delete(pluginId);
    for (const f of fs.readdirSync(this.#o.dir)) if (f === `${pluginId}.log` || f.startsWith(`${pluginId}.log.`)) fs.rmSync(path.join(this.#o.dir, f), { force: true });
  }
}
