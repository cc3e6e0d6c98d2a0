import { fileRecord, harness } from '/work/wt/opsq/packages/server/test/queue/helpers.ts';
async function main() {
const h = await harness();
const models = ['A1 mini', 'A1', 'X1C', 'P1S'];
for (let i = 0; i < 2000; i++) h.fleet.add(`p${i}`, { model: models[i % 4], state: { status: i % 3 === 0 ? 'printing' : 'idle' } });
for (let f = 0; f < 20; f++) h.library.add(fileRecord(`f${f}`, { printerModel: f === 19 ? 'H2D' : models[f % 4], plates: [{ ...fileRecord('x').plates[0]!, printerModel: models[f % 4], filaments: [{ id: 1, type: 'PLA', color: '#00AE42', grams: 3 }] }] }));
await h.queue.start();
await h.queue.setRunning(false);
const t0 = performance.now();
await h.storage.db.transaction().execute(async () => {});
for (let i = 0; i < 10000; i++) await h.queue.addItem({ fileId: `f${i % 20}` });
console.log('added 10k in', (performance.now() - t0).toFixed(0), 'ms');
const s: number[] = [];
for (let k = 0; k < 10; k++) { const a = performance.now(); h.queue.getQueue(); s.push(performance.now() - a); }
s.sort((a, b) => a - b);
console.log('getQueue 10k items x 2k printers: p50', s[5]!.toFixed(1), 'ms max', s[9]!.toFixed(1));
const r: number[] = [];
for (let k = 0; k < 3; k++) { const a = performance.now(); for (let i = 0; i < 2000; i++) h.queue.idleReasonFor(`p${i}`); r.push(performance.now() - a); }
console.log('idleReasonFor x 2000 printers:', r.map((x) => x.toFixed(1)).join(', '), 'ms');
await h.close();
}
main();
