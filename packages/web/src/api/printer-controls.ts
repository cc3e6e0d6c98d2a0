import { api } from './http.ts';

/** Light, fan and G-code console of a printer (docs/operator-api-printers.md, operator role). */
export const setLight = (id: string, on: boolean) => api(`/printers/${id}/light`, { body: { on } });
export const setFan = (id: string, percent: number) => api(`/printers/${id}/fan`, { body: { percent } });
export const sendGcode = (id: string, lines: string[]) => api<{ lines: string[] }>(`/printers/${id}/gcode`, { body: { lines } });

/** Splits what was typed into G-code lines: one per line, comments and blanks dropped, at most 50. */
export function gcodeLines(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/;.*$/, '').trim())
    .filter(Boolean)
    .slice(0, 50);
}
