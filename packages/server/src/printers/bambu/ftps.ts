/**
 * FTPS upload to the printer's storage root (bambu-protocol.md §1.11, pitfalls 20-24).
 *
 * basic-ftp ≥ 6.2.3: implicit TLS (990), `PBSZ 0` + `PROT P`, and the data channel reuses the
 * control connection's TLS session (vsFTPd refuses data connections without reuse). TLS ≤ 1.2.
 * We wait for `226` and then verify with `SIZE` before anyone sends `project_file` (pitfall 23).
 * A1 data channels may never send `226`: when the size-based deadline passes we check `SIZE`; the
 * printer from then on gets `PROT C` (clear data channel, control still TLS), remembered per printer.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { Transform } from 'node:stream';
import type { ConnectionOptions } from 'node:tls';
import { Client, type FTPContext } from 'basic-ftp';
import type { Clock } from '../../util/clock.ts';

export interface FtpsTarget {
  host: string;
  port: number;
  accessCode: string;
  tls: ConnectionOptions;
}

export class UploadDeadlineError extends Error {
  constructor(ms: number) {
    super(`FTPS upload did not complete within ${Math.round(ms / 1000)} s`);
    this.name = 'UploadDeadlineError';
  }
}

/** Size-based deadline: a floor plus the time at a slow-but-real rate (A1 over Wi-Fi ≈ 75 KB/s). */
export function uploadDeadlineMs(size: number, floorMs: number, minBytesPerSecond: number): number {
  return floorMs + Math.ceil((size / Math.max(1, minBytesPerSecond)) * 1000);
}

/** Runs `work(client)` on a fresh FTPS session; the client is closed when the deadline passes. */
export async function withFtps<T>(
  target: FtpsTarget,
  clock: Clock,
  deadlineMs: number,
  work: (client: Client) => Promise<T>,
): Promise<T> {
  const client = new Client(Math.min(deadlineMs, 30_000));
  let expired = false;
  let timer: ReturnType<Clock['setTimeout']> | null = null;
  const deadline = new Promise<never>((_, reject) => {
    timer = clock.setTimeout(() => {
      expired = true;
      client.close();
      reject(new UploadDeadlineError(deadlineMs));
    }, deadlineMs);
  });
  deadline.catch(() => {});
  try {
    const run = (async () => {
      await client.access({
        host: target.host,
        port: target.port,
        user: 'bblp',
        password: target.accessCode,
        secure: 'implicit',
        secureOptions: target.tls,
      });
      return work(client);
    })();
    run.catch(() => {});
    return await Promise.race([run, deadline]);
  } catch (err) {
    if (expired) throw new UploadDeadlineError(deadlineMs);
    throw err;
  } finally {
    clock.clearTimeout(timer);
    client.close();
  }
}

/** Size of a file at the storage root, or null when it is not there. */
export async function remoteSize(client: Client, name: string): Promise<number | null> {
  try {
    return await client.size(name);
  } catch {
    return null;
  }
}

/** Passive mode with a clear (non-TLS) data socket, used after `PROT C`. */
async function clearPassiveTransfer(ftp: FTPContext) {
  const res = await ftp.request('PASV');
  const m = res.message.match(/(\d+),(\d+),(\d+),(\d+),(\d+),(\d+)/);
  if (!m) throw new Error(`Can't parse PASV response: ${res.message}`);
  const port = Number(m[5]) * 256 + Number(m[6]);
  // Like basic-ftp's default strategy: always use the control host, never the PASV address.
  const host = (ftp.socket.remoteAddress ?? '').replace(/^::ffff:/i, '');
  await new Promise<void>((resolve, reject) => {
    const socket = netConnect({ host, port }, () => {
      socket.off('error', reject);
      ftp.dataSocket = socket;
      resolve();
    });
    socket.once('error', reject);
  });
  return res;
}

export interface UploadOnceOptions {
  localPath: string;
  remoteName: string;
  size: number;
  clearDataChannel: boolean;
  onProgress?: (sent: number) => void;
}

/** Uploads one file on an open session; resolves with the uppercase MD5 of the bytes sent. */
export async function uploadOnce(client: Client, o: UploadOnceOptions): Promise<string> {
  if (o.clearDataChannel) {
    await client.send('PROT C');
    client.prepareTransfer = clearPassiveTransfer;
  }
  const hash = createHash('md5');
  const hashing = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  client.trackProgress((info) => o.onProgress?.(info.bytes));
  try {
    await client.uploadFrom(createReadStream(o.localPath).pipe(hashing), o.remoteName);
  } finally {
    client.trackProgress();
  }
  const size = await remoteSize(client, o.remoteName);
  if (size !== o.size)
    throw new Error(`upload verification failed: printer reports ${size ?? 'no file'}, expected ${o.size} bytes`);
  return hash.digest('hex').toUpperCase();
}
