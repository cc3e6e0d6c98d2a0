/** Public entry of the Bambu Lab printer simulator (MQTT + FTPS + camera over TLS). */
export { type BambuSimOptions, BambuSimulator, type RefusalRule } from './simulator.ts';
export { type SimAmsConfig, type SimTray, amsReportFields } from './ams.ts';
export { type BambuFleetOptions, startBambuFleet, stopBambuFleet } from './fleet.ts';
export { simulatorCa, printerCertificate } from './certs.ts';
export { buildCameraAuthPacket, parseCameraAuthPacket } from './camera-server.ts';
export type { FtpsMode } from './ftps-server.ts';
export type { BambuModel } from './identity.ts';
export { ERR, formatPrintError, type GcodeState, type HmsEntry, type PrintStatus } from './status.ts';
