import type { Planner } from './planner.ts';

type Execute = (command: string) => Promise<{ out?: string[]; okSuffix?: string }>;

/**
 * The virtual SD card: files written with M28/M29, selected with M23, printed with M24 by the
 * firmware itself (no host round-trips), M25 pause, M524 abort, M27 `SD printing byte a/b`.
 * Lives across reconnects (the card stays in the printer).
 */
export class SdCard {
  readonly files = new Map<string, string>();
  #selected: string | null = null;
  #pos = 0;
  #printing = false;
  #paused = false;
  #run = 0;
  #execute: Execute = async () => ({});
  #say: (line: string) => void = () => {};
  #planner: Planner | null = null;

  get printing(): boolean {
    return this.#printing;
  }

  attach(execute: Execute, say: (line: string) => void, planner: Planner): void {
    this.#execute = execute;
    this.#say = say;
    this.#planner = planner;
    this.abort();
  }

  create(name: string): void {
    this.files.set(name.toLowerCase(), '');
  }

  append(name: string, line: string): void {
    const key = name.toLowerCase();
    this.files.set(key, `${this.files.get(key) ?? ''}${line}\n`);
  }

  statusLine(): string {
    if (!this.#selected || (!this.#printing && !this.#paused)) return 'Not SD printing';
    return `SD printing byte ${this.#pos}/${this.files.get(this.#selected)?.length ?? 0}`;
  }

  abort(): void {
    this.#printing = false;
    this.#paused = false;
    this.#run++;
  }

  command(word: string, text: string, p: Record<string, number>): string[] {
    switch (word) {
      case 'M20':
        return ['Begin file list', ...[...this.files].map(([n, c]) => `${n.toUpperCase()} ${c.length}`), 'End file list'];
      case 'M21':
        return ['SD card ok'];
      case 'M22':
        return ['SD card released'];
      case 'M23': {
        const key = text.toLowerCase();
        if (!this.files.has(key)) return [`open failed, File: ${text}.`];
        this.#selected = key;
        this.#pos = 0;
        return [`File opened: ${text} Size: ${this.files.get(key)!.length}`, 'File selected'];
      }
      case 'M24':
        if (this.#selected && !this.#printing) {
          this.#printing = true;
          this.#paused = false;
          void this.#loop(++this.#run);
        }
        return [];
      case 'M25':
        if (this.#printing) {
          this.#printing = false;
          this.#paused = true;
          this.#run++;
        }
        return [];
      case 'M26':
        this.#pos = p.S ?? 0;
        return [];
      case 'M30':
        this.files.delete(text.toLowerCase());
        return [`File deleted:${text}`];
      case 'M524':
        this.abort();
        this.#pos = 0;
        return [];
      default:
        return [];
    }
  }

  async #loop(run: number): Promise<void> {
    const content = this.files.get(this.#selected!) ?? '';
    while (this.#pos < content.length) {
      if (run !== this.#run) return;
      const nl = content.indexOf('\n', this.#pos);
      const end = nl < 0 ? content.length : nl + 1;
      const line = content.slice(this.#pos, end).split(';')[0].trim();
      this.#pos = end;
      if (!line) continue;
      const res = await this.#execute(line);
      for (const l of res.out ?? []) this.#say(l);
    }
    await this.#planner?.drained();
    if (run !== this.#run) return;
    this.#printing = false;
    this.#say('Done printing file');
  }
}
