/**
 * Marlin line framing. A numbered line is `N<n> <command>*<cs>`; cs is the XOR of every byte of
 * `N<n> <command>` (space included, `*` excluded), written in decimal. `N0 M110 N0*125` is the hello.
 */
export function checksum(text: string): number {
  let cs = 0;
  for (let i = 0; i < text.length; i++) cs ^= text.charCodeAt(i) & 0xff;
  return cs;
}

export function numberedLine(lineNumber: number, command: string): string {
  const body = `N${lineNumber} ${command}`;
  return `${body}*${checksum(body)}`;
}

/** Drops everything after an unescaped `;` (`\;` escapes it) and trims; '' for comment/blank lines. */
export function stripComment(line: string): string {
  let out = '';
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\' && line[i + 1] === ';') {
      out += ';';
      i++;
      continue;
    }
    if (c === ';') break;
    out += c;
  }
  return out.trim();
}

/** Splits `N<n> <cmd>*<cs>`; null when the line carries no line number. */
export function splitNumberedLine(line: string): { lineNumber: number; command: string; checksum: number | null } | null {
  const m = /^N(\d+)\s*(.*?)(?:\*(\d+))?\s*$/.exec(line);
  if (!m) return null;
  return { lineNumber: Number(m[1]), command: m[2], checksum: m[3] === undefined ? null : Number(m[3]) };
}
