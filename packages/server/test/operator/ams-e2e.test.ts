/**
 * Filament and AMS end to end (issue 16): the real server and Bambu driver against the Bambu
 * simulator over TLS MQTT + FTPS. A two-colour file waits with `no_ams_match` while its colours are
 * not loaded, then goes out with `use_ams` + `ams_mapping` once they are (checked at the simulator).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { type E2E, startE2E, waitFor } from '../queue/e2e-helpers.ts';
import { sliced3mf } from '../library/zip-writer.ts';

let e: E2E | null = null;
afterEach(async () => {
  await e?.close();
  e = null;
});

const TWO_COLOUR_SLICE_INFO = `<?xml version="1.0" encoding="UTF-8"?>
<config>
  <header><header_item key="X-BBL-Client-Version" value="02.04.00.70"/></header>
  <plate>
    <metadata key="index" value="1"/>
    <metadata key="printer_model_id" value="N1"/>
    <metadata key="nozzle_diameters" value="0.4"/>
    <metadata key="prediction" value="600"/>
    <metadata key="weight" value="5"/>
    <filament id="1" type="PLA" color="#00AE42FF" used_m="1.1" used_g="3" />
    <filament id="2" type="PLA" color="#FF0000FF" used_m="0.7" used_g="2" />
  </plate>
</config>`;

describe('AMS end to end over the Bambu simulator', () => {
  it('shows the trays, waits while a colour is missing, then sends ams_mapping by type and colour', async () => {
    e = await startE2E();
    const { id, sim } = await e.addPrinter(
      'A1-mini-AMS',
      { swapCooldownSeconds: 1 },
      {
        ams: { units: [[{ type: 'PETG', color: '000000', remain: 80 }, null, null, null]], external: null },
      },
    );
    const trays = await waitFor(async () => {
      const p = await e!.api('GET', `/api/v1/printers/${id}`);
      return p.body.state.filament?.ams?.[0]?.trays?.length === 4 && p.body;
    }, 'AMS trays in the printer state');
    expect(trays.state.filament.ams[0].trays[0]).toMatchObject({
      slot: 0,
      type: 'PETG',
      color: '#000000',
      remainingPercent: 80,
      empty: false,
    });
    expect(trays.state.filament.ams[0].trays[1]).toMatchObject({ slot: 1, type: null, empty: true });
    expect(trays.supportedOverrides).toEqual(['bedLeveling', 'flowCalibration', 'timelapse']);

    const form = new FormData();
    form.append(
      'file',
      new Blob([new Uint8Array(sliced3mf([{ name: 'Metadata/slice_info.config', data: TWO_COLOUR_SLICE_INFO }]))]),
      'two-colour.gcode.3mf',
    );
    const up = await e.server.api('POST', '/api/v1/files', { token: e.token, body: form });
    expect(up.status).toBe(201);
    const added = await e.api('POST', '/api/v1/queue', { fileId: up.body.id });
    expect(added.status).toBe(201);
    expect(added.body.waitingReason).toMatchObject({ code: 'no_ams_match' });
    expect(added.body.waitingReason.params.missing).toEqual([
      { slot: 1, type: 'PLA', color: '#00AE42' },
      { slot: 2, type: 'PLA', color: '#FF0000' },
    ]);
    expect(added.body.estimatedStartAt).toBeNull();
    const queue = await e.api('GET', '/api/v1/queue');
    expect(queue.body.remainingSeconds).toBe(0);
    expect(queue.body.printers.find((p: any) => p.printerId === id).idleReason).toMatchObject({ code: 'no_ams_match' });
    expect(sim.projectFiles()).toHaveLength(0);

    // Load red in tray 0 and green in tray 2: slot 1 (green) → 2, slot 2 (red) → 0.
    sim.setAms({
      units: [
        [{ type: 'PLA', color: 'FF0000' }, { type: 'PETG', color: '00AE42' }, { type: 'PLA', color: '00AE42' }, null],
      ],
    });
    const sent = await waitFor(() => sim.projectFiles()[0], 'project_file at the simulator', 20_000);
    expect(sent).toMatchObject({ use_ams: true, ams_mapping: [2, 0] });
    expect(sent.ams_mapping2).toEqual([
      { ams_id: 0, slot_id: 2 },
      { ams_id: 0, slot_id: 0 },
    ]);
  });

  it('a single-filament print on a printer without AMS uses the external spool', async () => {
    e = await startE2E();
    const { sim } = await e.addPrinter(
      'A1-mini-noAMS',
      { swapCooldownSeconds: 1 },
      {
        ams: { units: [], external: { type: 'PLA', color: '00AE42' } },
      },
    );
    const fileId = await e.uploadFixture();
    const added = await e.api('POST', '/api/v1/queue', { fileId });
    expect(added.body.waitingReason).toBeNull();
    const sent = await waitFor(() => sim.projectFiles()[0], 'project_file at the simulator', 20_000);
    expect(sent).toMatchObject({ use_ams: false, ams_mapping: [] });
  });
});
