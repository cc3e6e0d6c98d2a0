import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { DriverError } from '../driver.ts';

/**
 * POST /server/files/upload as multipart, streaming the file from disk (never held in memory),
 * with Moonraker's `root`, `path` and `checksum` (SHA-256) fields.
 */
export async function uploadFile(opts: {
  baseUrl: string;
  apiKey: string | null;
  localPath: string;
  remoteName: string;
  folder: string;
  onProgress?: (sent: number, total: number) => void;
}): Promise<{ path: string }> {
  const size = (await fs.promises.stat(opts.localPath)).size;
  const sha256 = await new Promise<string>((resolve, reject) => {
    const h = crypto.createHash('sha256');
    fs.createReadStream(opts.localPath)
      .on('data', (d) => h.update(d))
      .on('end', () => resolve(h.digest('hex')))
      .on('error', reject);
  });
  const boundary = `----rwc${crypto.randomBytes(12).toString('hex')}`;
  const field = (name: string, value: string) =>
    `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
  const head = Buffer.from(
    field('root', 'gcodes') +
      field('path', opts.folder) +
      field('checksum', sha256) +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${opts.remoteName.replace(/"/g, '')}"\r\n` +
      'Content-Type: application/octet-stream\r\n\r\n',
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const url = new URL('/server/files/upload', opts.baseUrl);
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, {
      method: 'POST',
      headers: {
        'content-type': `multipart/form-data; boundary=${boundary}`,
        'content-length': head.length + size + tail.length,
        ...(opts.apiKey ? { 'x-api-key': opts.apiKey } : {}),
      },
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 201 && res.statusCode !== 200) {
          const code = res.statusCode === 401 ? 'unauthorized' : 'upload_failed';
          return reject(new DriverError(code, `upload failed: HTTP ${res.statusCode} ${text.slice(0, 200)}`));
        }
        // Moonraker's docs show the upload answer bare (`{item, action, ...}`), unlike other HTTP
        // answers that come wrapped in `{result: ...}`; accept both.
        let parsed: { item?: { path?: unknown }; result?: { item?: { path?: unknown } } } | null = null;
        try {
          parsed = JSON.parse(text);
        } catch {}
        const remotePath = parsed?.result?.item?.path ?? parsed?.item?.path;
        if (typeof remotePath !== 'string') return reject(new DriverError('upload_failed', 'upload answer was not understood'));
        resolve({ path: remotePath });
      });
    });
    req.on('error', (err) => reject(new DriverError('upload_failed', err.message)));
    req.write(head);
    let sent = 0;
    const stream = fs.createReadStream(opts.localPath);
    stream.on('data', (chunk) => {
      sent += chunk.length;
      opts.onProgress?.(sent, size);
    });
    stream.on('error', (err) => req.destroy(err));
    stream.on('end', () => req.end(tail));
    stream.pipe(req, { end: false });
  });
}
