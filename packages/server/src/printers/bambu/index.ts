export {
  bambuDriverCapability,
  createSimulatedBambuDriver,
  registerBambu,
  simulatedBambuCapability,
} from './capability.ts';
export { type BambuConnection, parseBambuConnection } from './connection.ts';
export {
  BambuDriver,
  type BambuDriverOptions,
  createBambuDriver,
  NOTE_NO_REPORTS,
  NOTE_WRONG_ACCESS_CODE,
} from './driver.ts';
export { describeHms, describePrintError, formatHmsCode, formatPrintError } from './errors.ts';
export { JsonFileUploadStore, type UploadRecord, type UploadRecordStore } from './upload-records.ts';
