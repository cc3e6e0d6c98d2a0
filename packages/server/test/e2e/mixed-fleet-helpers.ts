/**
 * A mixed farm over real sockets: the real server with one Bambu (TLS MQTT + FTPS), one Marlin
 * (serial over TCP) and one Moonraker (HTTP + JSON-RPC WebSocket) simulator, each added through
 * the public API with its production driver, plus a WebSocket client that records every event.
 */
import { readFileSync } from 'node:fs';
import { BambuSimulator, type BambuSimOptions } from '@rwc/simulators/bambu/index.ts';
import { MarlinSimulator, type MarlinSimulatorOptions } from '@rwc/simulators/marlin/index.ts';
import { MoonrakerSimulator, type MoonrakerSimulatorOptions } from '@rwc/simulators/moonraker/index.ts';
import WebSocket from 'ws';
import { type TestServer, setupAdmin, startTestServer } from '../helpers/server.ts';
import { waitFor } from '../helpers/wait.ts';
export { waitFor };

export const FIXTURE_3MF = new URL('../../../simulators/test/bambu/fixtures/cube-a1mini.gcode.3mf', import.meta.url);

export interface WsEvent {
  type: string;
  data: any;
  at: string;
}

export interface MixedFleet {
  server: TestServer;
  token: string;
  bambu: { id: string; sim: BambuSimulator };
  marlin: { id: string; sim: MarlinSimulator };
  moonraker: { id: string; sim: MoonrakerSimulator };
  /** Every event pushed to the WebSocket client, in order. */
  wsEvents: WsEvent[];
  api(method: string, url: string, body?: unknown): Promise<{ status: number; body: any }>;
  upload(name: string, data: Uint8Array | string): Promise<string>;
  status(printerId: string): Promise<string>;
  close(): Promise<void>;
}

export interface MixedFleetOptions {
  bambu?: BambuSimOptions;
  marlin?: MarlinSimulatorOptions;
  moonraker?: MoonrakerSimulatorOptions;
}

export const MOONRAKER_KEY = 'e2e-moonraker-key';

export async function startMixedFleet(opts: MixedFleetOptions = {}): Promise<MixedFleet> {
  const bambuSim = new BambuSimulator({
    model: 'A1 mini',
    timeScale: 400,
    reportIntervalMs: 50,
    prepareSeconds: 10,
    endGcodeSeconds: 5,
    ...opts.bambu,
  });
  const marlinSim = new MarlinSimulator({ transport: 'tcp', timeScale: 0.01, ...opts.marlin });
  const moonrakerSim = new MoonrakerSimulator({ apiKey: MOONRAKER_KEY, timeScale: 0.1, printSeconds: 30, ...opts.moonraker });
  await Promise.all([bambuSim.start(), marlinSim.start(), moonrakerSim.start()]);

  const server = await startTestServer();
  const { accessToken } = await setupAdmin(server);
  const api: MixedFleet['api'] = (method, url, body) => server.api(method, url, { token: accessToken, body });

  const wsEvents: WsEvent[] = [];
  const ws = new WebSocket(`${server.url.replace(/^http/, 'ws')}/api/v1/ws?token=${accessToken}`);
  ws.on('message', (raw) => {
    const msg = JSON.parse(String(raw)) as WsEvent;
    if (msg && typeof msg.type === 'string' && 'data' in msg) wsEvents.push(msg);
  });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });

  const add = async (body: Record<string, unknown>): Promise<string> => {
    const res = await api('POST', '/api/v1/printers', body);
    if (res.status !== 201) throw new Error(`adding ${body.name} failed: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body.id as string;
  };
  const settings = { swapCooldownSeconds: 0, nozzleDiameter: 0.4 };
  const bambuId = await add({
    name: 'Bambu A1 mini',
    driver: 'bambu',
    model: 'A1 mini',
    connection: bambuSim.connectionInfo(),
    settings,
  });
  const marlinId = await add({ name: 'Ender 3 (Marlin)', driver: 'marlin', model: 'Ender-3', connection: { url: marlinSim.url }, settings });
  const moonrakerId = await add({
    name: 'Voron (Klipper)',
    driver: 'moonraker',
    model: 'Voron 2.4',
    connection: { url: moonrakerSim.url, apiKey: MOONRAKER_KEY },
    settings,
  });

  const fleet: MixedFleet = {
    server,
    token: accessToken,
    bambu: { id: bambuId, sim: bambuSim },
    marlin: { id: marlinId, sim: marlinSim },
    moonraker: { id: moonrakerId, sim: moonrakerSim },
    wsEvents,
    api,
    async upload(name, data) {
      const form = new FormData();
      form.append('file', new Blob([typeof data === 'string' ? data : new Uint8Array(data)]), name);
      const res = await server.api('POST', '/api/v1/files', { token: accessToken, body: form });
      if (res.status !== 201) throw new Error(`upload of ${name} failed: ${res.status} ${JSON.stringify(res.body)}`);
      return res.body.id as string;
    },
    async status(printerId) {
      return (await api('GET', `/api/v1/printers/${printerId}`)).body.state.status as string;
    },
    async close() {
      ws.terminate();
      await server.destroy();
      await Promise.all([bambuSim.stop(), marlinSim.stop(), moonrakerSim.stop()]);
    },
  };
  for (const id of [bambuId, marlinId, moonrakerId]) {
    await waitFor(async () => (await fleet.status(id)) === 'idle', `printer ${id} idle`);
  }
  return fleet;
}

export const read3mfFixture = (): Uint8Array => new Uint8Array(readFileSync(FIXTURE_3MF));

/**
 * A small plain G-code as Cura writes it (`;FLAVOR`, `;TIME`, nozzle) with a PrusaSlicer-style
 * estimate line too, then `moves` short G1 segments around a circle.
 */
export function plainGcode(moves: number, estimatedSeconds = 600): string {
  const lines = [
    ';FLAVOR:Marlin',
    `;TIME:${estimatedSeconds}`,
    ';Filament used: 0.12m',
    ';Layer height: 0.2',
    ';LAYER_COUNT:2',
    ';TARGET_MACHINE.NAME:Creality Ender-3',
    ';EXTRUDER_TRAIN.0.NOZZLE.DIAMETER:0.4',
    `; estimated printing time (normal mode) = ${Math.floor(estimatedSeconds / 60)}m ${estimatedSeconds % 60}s`,
    'M140 S0',
    'M104 S0',
    'G28',
    'G90',
    'M83',
    ';LAYER:0',
    'G1 Z0.2 F3000',
  ];
  for (let i = 0; i < moves; i++) {
    const a = (i / moves) * Math.PI * 4;
    if (i === Math.floor(moves / 2)) lines.push(';LAYER:1', 'G1 Z0.4 F3000');
    lines.push(`G1 X${(100 + 15 * Math.cos(a)).toFixed(2)} Y${(100 + 15 * Math.sin(a)).toFixed(2)} E0.02 F1200`);
  }
  lines.push('M73 P100 R0', 'M400', 'M84', ';End of Gcode');
  return `${lines.join('\n')}\n`;
}

