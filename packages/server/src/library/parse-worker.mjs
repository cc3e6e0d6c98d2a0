// Entry of a parse worker thread (piscina). Worker threads do not inherit tsx's loader on Node 20,
// so the TypeScript task is loaded through tsx's API, the same way in production and in tests.
import { tsImport } from 'tsx/esm/api';

const mod = await tsImport('./parse-task.ts', import.meta.url);
export default mod.default;
