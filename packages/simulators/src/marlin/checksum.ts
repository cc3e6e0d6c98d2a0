/** XOR of every byte before `*` (Marlin's line checksum). Kept here so the simulator does not import the server. */
export function lineChecksum(text: string): number {
  let cs = 0;
  for (let i = 0; i < text.length; i++) cs ^= text.charCodeAt(i) & 0xff;
  return cs;
}

/** `N12 G1 X1*34` → parts; checksum null when absent. Lines without `N` give lineNumber null. */
export function splitLine(line: string): { lineNumber: number | null; command: string; checksum: number | null; body: string } {
  const star = line.lastIndexOf('*');
  const body = star >= 0 ? line.slice(0, star) : line;
  const cs = star >= 0 ? Number(line.slice(star + 1).trim()) : null;
  const m = /^N(\d+)\s*(.*)$/.exec(body.trim());
  if (!m) return { lineNumber: null, command: body.trim(), checksum: cs, body };
  return { lineNumber: Number(m[1]), command: m[2].trim(), checksum: cs, body };
}
