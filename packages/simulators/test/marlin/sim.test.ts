import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { lineChecksum } from '../../src/marlin/checksum.ts';
import { MarlinSimulator } from '../../src/marlin/index.ts';

const numbered = (n: number, cmd: string) => `N${n} ${cmd}*${lineChecksum(`N${n} ${cmd}`)}`;

/** A bare TCP host: collects lines, waits for patterns. */
async function connect(sim: MarlinSimulator) {
  const port = Number(sim.url.split(':').pop());
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise((r) => socket.once('connect', r));
  const lines: string[] = [];
  let buf = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  const waitFor = async (pred: (lines: string[]) => boolean, ms = 5000) => {
    const start = Date.now();
    while (!pred(lines)) {
      if (Date.now() - start > ms) throw new Error(`timeout; got ${JSON.stringify(lines.slice(-10))}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  const send = (line: string) => socket.write(`${line}\n`, 'latin1');
  return { socket, lines, waitFor, send, oks: () => lines.filter((l) => l.startsWith('ok')).length };
}

let sims: MarlinSimulator[] = [];
afterEach(async () => {
  for (const s of sims) await s.stop();
  sims = [];
});
async function start(opts: ConstructorParameters<typeof MarlinSimulator>[0]) {
  const sim = new MarlinSimulator(opts);
  await sim.start();
  sims.push(sim);
  return sim;
}

describe('MarlinSimulator', () => {
  it('boots like a reset board and answers M110/M115 with capabilities', async () => {
    const sim = await start({ baudRate: 0 });
    expect(sim.url).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    const c = await connect(sim);
    await c.waitFor((l) => l.includes('SD card ok'));
    expect(c.lines[0]).toBe('start');
    c.send('N0 M110 N0*125');
    c.send(numbered(1, 'M115'));
    await c.waitFor(() => c.oks() === 2);
    expect(c.lines.find((l) => l.startsWith('FIRMWARE_NAME:'))).toContain('Marlin');
    expect(c.lines).toContain('Cap:AUTOREPORT_TEMP:1');
    expect(c.lines).toContain('Cap:EMERGENCY_PARSER:1');
  });

  it('rejects bad checksums and skipped line numbers with Error + Resend + ok', async () => {
    const sim = await start({ baudRate: 0 });
    const c = await connect(sim);
    c.send('N0 M110 N0*125');
    c.send('N1 G28*99'); // wrong checksum
    await c.waitFor((l) => l.includes('Resend: 1'));
    expect(c.lines).toContain('Error:checksum mismatch, Last Line: 0');
    c.send(numbered(2, 'G28')); // skips line 1
    await c.waitFor((l) => l.filter((x) => x === 'Resend: 1').length === 2);
    expect(c.lines).toContain('Error:Line Number is not Last Line Number+1, Last Line: 0');
    c.send(numbered(1, 'G28'));
    await c.waitFor(() => c.oks() === 4);
    expect(sim.commandLog.filter((cmd) => cmd !== 'M110 N0')).toEqual(['G28']);
    expect(sim.firmware!.stats.resendsRequested).toBe(2);
  });

  it('ADVANCED_OK reports line, planner and buffer space; M105 temperatures ride on the ok', async () => {
    const sim = await start({ baudRate: 0, advancedOk: true, bufferSize: 8, plannerSize: 16 });
    const c = await connect(sim);
    c.send('N0 M110 N0*125');
    c.send(numbered(1, 'G1 X10 F6000'));
    c.send(numbered(2, 'M105'));
    await c.waitFor(() => c.oks() === 3);
    const oks = c.lines.filter((l) => l.startsWith('ok'));
    expect(oks[1]).toMatch(/^ok N1 P1[56] B[67]$/);
    expect(oks[2]).toMatch(/^ok N2 P\d+ B7 T:21\.30 \/0\.00 B:21\.30 \/0\.00 @:0 B@:0$/);
  });

  it('moves take time proportional to length / feedrate (time-scaled); M400 waits for them', async () => {
    const sim = await start({ baudRate: 0, timeScale: 0.01 });
    const c = await connect(sim);
    c.send('N0 M110 N0*125');
    // 100 mm at 60 mm/s = 1.67 s simulated → ~17 ms real at timeScale 0.01.
    c.send(numbered(1, 'G1 X100 F3600'));
    c.send(numbered(2, 'M400'));
    await c.waitFor(() => c.oks() === 3);
    expect(sim.firmware!.planner.movesDone).toBe(1);
  });

  it('heats toward the target; M109 blocks with busy keepalives and temperature lines', async () => {
    const sim = await start({ baudRate: 0, timeScale: 0.05, busyIntervalMs: 100 });
    const c = await connect(sim);
    c.send('N0 M110 N0*125');
    c.send(numbered(1, 'M109 S60')); // 38.7 °C at 10 °C/s = ~3.9 s simulated → ~0.2 s real
    await c.waitFor(() => c.oks() === 2);
    expect(c.lines).toContain('echo:busy: processing');
    expect(sim.firmware!.heaters.tools[0].actual).toBeGreaterThanOrEqual(59);
  });

  it('M155 autoreports temperatures; M73 is taken; unknown commands are echoed', async () => {
    const sim = await start({ baudRate: 0 });
    const c = await connect(sim);
    c.send('N0 M110 N0*125');
    c.send(numbered(1, 'M155 S1'));
    c.send(numbered(2, 'M73 P42 R7'));
    c.send(numbered(3, 'FOO'));
    await c.waitFor((l) => l.some((x) => x.startsWith(' T:')), 3000);
    expect(sim.firmware!.progress).toEqual({ percent: 42, remainingMinutes: 7 });
    expect(c.lines).toContain('echo:Unknown command: "FOO"');
  });

  it('fault injection: garbled line, dropped ok, fatal error, disconnect', async () => {
    const sim = await start({ baudRate: 0 });
    const c = await connect(sim);
    c.send('N0 M110 N0*125');
    await c.waitFor(() => c.oks() === 1);
    sim.garbleNextLine();
    c.send(numbered(1, 'G28'));
    await c.waitFor((l) => l.includes('Resend: 1'));
    sim.dropNextOk();
    c.send(numbered(1, 'G28'));
    c.send(numbered(2, 'G90'));
    await c.waitFor(() => sim.commandLog.length === 2);
    await c.waitFor(() => c.oks() === 3); // hello, resend's ok, G90 (G28's ok dropped)
    sim.emitFatal('thermal');
    await c.waitFor((l) => l.includes('Error:Printer halted. kill() called!'));
    expect(c.lines).toContain('Error:Thermal Runaway, system stopped! Heater_ID: 0');
    c.send(numbered(3, 'M105'));
    await new Promise((r) => setTimeout(r, 50));
    expect(c.oks()).toBe(3); // a killed board answers nothing
    const closed = new Promise((r) => c.socket.once('close', r));
    sim.disconnect();
    await closed;
  });

  it('throttles the wire to baud/10 bytes per second', async () => {
    const sim = await start({ baudRate: 9600 }); // 960 bytes/s
    const c = await connect(sim);
    await c.waitFor((l) => l.includes('SD card ok'));
    const t0 = performance.now();
    c.send('N0 M110 N0*125');
    for (let i = 1; i <= 6; i++) c.send(numbered(i, 'G1 X1.000 Y1.000 E0.01234'));
    await c.waitFor(() => c.oks() === 7);
    const bytes = sim.firmware!.stats.bytesReceived;
    expect(bytes).toBeGreaterThan(200);
    // Lower bound only: the bytes cannot have crossed faster than the simulated line allows.
    expect(performance.now() - t0).toBeGreaterThanOrEqual((bytes / 960) * 1000 * 0.9);
  });

  it('SD card: write with M28/M29, select, print, report progress, finish', async () => {
    const sim = await start({ baudRate: 0, timeScale: 0.001 });
    const c = await connect(sim);
    c.send('N0 M110 N0*125');
    const body = ['G28', 'G1 X10 F3000', 'G1 X20', 'M400'];
    const cmds = ['M28 test.gco', ...body, 'M29', 'M23 test.gco', 'M24'];
    for (const [i, cmd] of cmds.entries()) c.send(numbered(i + 1, cmd));
    await c.waitFor((l) => l.includes('Done printing file'));
    expect(c.lines).toContain('Done saving file.');
    expect(c.lines.some((l) => /^File opened: test\.gco Size: \d+$/.test(l))).toBe(true);
    expect(sim.sd.files.get('test.gco')).toBe(`${body.join('\n')}\n`);
    expect(sim.commandLog.filter((cmd) => cmd === 'G1 X20')).toHaveLength(2); // written once, executed once
  });
});
