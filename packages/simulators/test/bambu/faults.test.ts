import { createHash } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FakeClock } from '@rwc/server/util/clock.ts';
import { afterEach, describe, expect, it } from 'vitest';
import { BambuSimulator, ERR } from '../../src/bambu/index.ts';
import { connectOptions, connectReports, isAck, isDelta, stateIs, tryConnect } from './helpers.ts';

const CUBE_PATH = fileURLToPath(new URL('./fixtures/cube-a1mini.gcode.3mf', import.meta.url));
const CUBE_MD5 = createHash('md5').update(readFileSync(CUBE_PATH)).digest('hex').toUpperCase();

/** Puts the fixture on the simulated SD card directly (FTPS is covered in job.test.ts). */
const putCube = (sim: BambuSimulator) => copyFileSync(CUBE_PATH, join(sim.storageDir, 'cube.gcode.3mf'));

const start = (seq: string, subtaskId = `S${seq}`) => ({
  print: {
    sequence_id: seq,
    command: 'project_file',
    param: 'Metadata/plate_1.gcode',
    url: 'file:///sdcard/cube.gcode.3mf',
    file: 'cube.gcode.3mf',
    md5: CUBE_MD5,
    bed_leveling: false,
    flow_cali: false,
    use_ams: false,
    subtask_name: 'cube',
    task_id: seq,
    subtask_id: subtaskId,
  },
});

describe('Bambu simulator faults and model quirks', () => {
  const sims: BambuSimulator[] = [];
  const make = async (opts: ConstructorParameters<typeof BambuSimulator>[0]) => {
    const sim = new BambuSimulator(opts);
    sims.push(sim);
    await sim.start();
    return sim;
  };
  afterEach(async () => {
    await Promise.all(sims.splice(0).map((s) => s.stop()));
  });

  it('setDropCommands: telemetry flows, commands vanish without ack', async () => {
    const sim = await make({ reportIntervalMs: 20, idleReportIntervalMs: 20 });
    const rc = await connectReports(sim);
    sim.setDropCommands(true);
    await rc.request({ print: { sequence_id: '1', command: 'pause' } });
    rc.mark();
    await rc.waitFor(isDelta, 5000, 'telemetry');
    await new Promise((r) => setTimeout(r, 150));
    expect(rc.messages.some(isAck('pause'))).toBe(false);
    expect(sim.droppedCommands).toHaveLength(1);
    expect(sim.receivedCommands).toHaveLength(0);
    sim.setDropCommands(false);
    await rc.request({ print: { sequence_id: '2', command: 'pause' } });
    await rc.waitFor(isAck('pause', '2'), 5000);
    await rc.close();
  });

  it('setKillOnRequestSubscribe: subscribing to the request topic kills the connection', async () => {
    const sim = await make({});
    sim.setKillOnRequestSubscribe(true);
    const { client, error } = await tryConnect(connectOptions(sim));
    expect(error).toBeNull();
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    client.subscribe(`device/${sim.serial}/request`);
    await closed;
    await client.endAsync(true);
  });

  it('A1 mini: a project_file while busy is refused and cancels the running job', async () => {
    const sim = await make({ model: 'A1 mini', reportIntervalMs: 20 });
    putCube(sim);
    const rc = await connectReports(sim);
    await rc.request(start('10'));
    expect((await rc.waitFor(isAck('project_file', '10'), 5000)).print.result).toBe('success');
    await rc.request(start('11'));
    const nack = await rc.waitFor(isAck('project_file', '11'), 5000);
    expect(nack.print.result).toBe('failed');
    expect(nack.print.print_error).toBe(ERR.BUSY);
    expect(sim.gcodeState).toBe('FAILED');
    expect(sim.status.print_error).toBe(ERR.CANCELED);
    expect(sim.status.subtask_id).toBe('S10');
    await rc.close();
  });

  it('is driven by an injected clock: a whole job inside one tick still pushes every state', async () => {
    const clock = new FakeClock();
    const sim = await make({ clock, timeScale: 10_000, reportIntervalMs: 1000 });
    putCube(sim);
    const states: string[] = [];
    sim.on('state', (e) => states.push(e.state));
    const rc = await connectReports(sim);
    await rc.request(start('20'));
    await rc.waitFor(isAck('project_file', '20'), 5000);
    expect(sim.gcodeState).toBe('PREPARE');
    clock.advance(1000); // one tick = 10 000 simulated seconds: prepare + 1095 s print + end G-code
    expect(states).toEqual(['PREPARE', 'RUNNING', 'FINISH']);
    await rc.waitFor(stateIs('RUNNING'), 5000, 'RUNNING delta');
    await rc.waitFor(stateIs('FINISH'), 5000, 'FINISH delta');
    clock.advance(60_000);
    expect(sim.gcodeState).toBe('FINISH');
    await rc.close();
  });
});
