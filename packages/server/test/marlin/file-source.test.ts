import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GcodeFileSource } from '../../src/printers/marlin/file-source.ts';

async function drain(src: GcodeFileSource, onEach?: () => void): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const line = src.take();
    if (line === 'end') return out;
    if (line === 'wait') {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    out.push(line);
    onEach?.();
  }
}

describe('GcodeFileSource', () => {
  it('strips comments and blanks, handles CRLF and a last line without newline, tracks bytes', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-src-')), 'a.gcode');
    fs.writeFileSync(file, '; header\r\nG28 ; home\r\n\r\nM117 a\\;b\nG1 X1');
    const taken: number[] = [];
    const src = await GcodeFileSource.open(file, { onReady() {}, onTake: (_c, bytes) => taken.push(bytes) });
    expect(await drain(src)).toEqual(['G28', 'M117 a;b', 'G1 X1']);
    expect(taken).toEqual([22, 34, fs.statSync(file).size]);
    expect(src.finished).toBe(true);
    await src.close();
  });

  it('streams a large file with a bounded read-ahead', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'rwc-src-')), 'big.gcode');
    const lines = 150_000;
    const fd = fs.openSync(file, 'w');
    for (let i = 0; i < lines; i += 1000) {
      let chunk = '';
      for (let j = i; j < i + 1000; j++) chunk += `G1 X${j % 200}.123 Y${j % 177}.456 E0.01234 ;c\n`;
      fs.writeSync(fd, chunk);
    }
    fs.closeSync(fd);
    let peak = 0;
    let count = 0;
    const src = await GcodeFileSource.open(file, { onReady() {}, onTake() {} });
    const buffered = () => (src as unknown as { bufferedLines: number }).bufferedLines;
    await drain(src, () => {
      count++;
      peak = Math.max(peak, buffered());
    });
    expect(count).toBe(lines);
    expect(fs.statSync(file).size).toBeGreaterThan(4_000_000);
    expect(peak).toBeLessThan(5000); // ~64 KiB of lines, never the whole file
    expect(src.bytesSent).toBe(fs.statSync(file).size);
  });
});
