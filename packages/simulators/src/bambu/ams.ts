/**
 * Configurable AMS / AMS lite trays and external spool for the simulated printer, in the wire
 * shape of a real report (fixtures ha-bambulab.MOCK-X1CMULTIAMS / MOCK-P1PNOAMS): `ams.ams[]`
 * units with `tray[]` (an empty tray carries only its id), `tray_exist_bits`, `ams_exist_bits`,
 * `tray_now`, and `vt_tray` (id "254") for the external spool.
 */

/** One loaded spool: type as the printer names it, colour `RRGGBB`, remaining percent (-1 unknown). */
export interface SimTray {
  type: string;
  color: string;
  remain?: number;
}

/** Units of four trays each (null = empty tray); `units: []` = no AMS. */
export interface SimAmsConfig {
  units: Array<Array<SimTray | null>>;
  external?: SimTray | null;
}

function tray(id: number, t: SimTray | null): Record<string, any> {
  if (!t) return { id: String(id) };
  return {
    id: String(id),
    remain: t.remain ?? -1,
    k: 0.02,
    n: 1,
    cali_idx: -1,
    tag_uid: '0000000000000000',
    tray_id_name: '',
    tray_info_idx: '',
    tray_type: t.type,
    tray_sub_brands: '',
    tray_color: `${t.color.replace(/^#/, '').toUpperCase()}FF`,
    tray_weight: '1000',
    tray_diameter: '1.75',
    tray_temp: '0',
    tray_time: '0',
    bed_temp_type: '0',
    bed_temp: '0',
    nozzle_temp_max: '230',
    nozzle_temp_min: '190',
    ctype: 0,
    cols: [`${t.color.replace(/^#/, '').toUpperCase()}FF`],
  };
}

/** The `ams` and `vt_tray` report fields for a configuration. */
export function amsReportFields(cfg: SimAmsConfig): { ams: Record<string, any>; vt_tray: Record<string, any> } {
  let trayBits = 0;
  cfg.units.forEach((unit, u) => {
    unit.forEach((t, i) => {
      if (t) trayBits |= 1 << (u * 4 + i);
    });
  });
  const ext = cfg.external ?? null;
  return {
    ams: {
      ams: cfg.units.map((unit, u) => ({
        id: String(u),
        humidity: '5',
        humidity_raw: '20',
        temp: '25.0',
        tray: [0, 1, 2, 3].map((i) => tray(i, unit[i] ?? null)),
      })),
      ams_exist_bits: ((1 << cfg.units.length) - 1).toString(16),
      tray_exist_bits: trayBits.toString(16),
      tray_is_bbl_bits: trayBits.toString(16),
      tray_tar: '255',
      tray_now: cfg.units.length === 0 ? '254' : '255',
      tray_pre: '255',
      tray_read_done_bits: trayBits.toString(16),
      tray_reading_bits: '0',
      version: 2,
      insert_flag: true,
      power_on_flag: false,
    },
    vt_tray: { ...tray(254, ext), ...(ext ? {} : { tray_type: '', tray_color: '00000000' }) },
  };
}
