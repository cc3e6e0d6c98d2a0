/** Minimal multipart/form-data parser for the simulator's upload endpoint (bodies are held in memory). */
export type FormPart = { name: string; filename: string | null; data: Buffer };

export function parseMultipart(body: Buffer, contentType: string): FormPart[] {
  const m = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!m) throw new Error('no multipart boundary');
  const boundary = Buffer.from(`--${(m[1] ?? m[2]).trim()}`);
  const parts: FormPart[] = [];
  let pos = body.indexOf(boundary);
  while (pos >= 0) {
    const start = pos + boundary.length;
    if (body.subarray(start, start + 2).toString() === '--') break;
    const headerEnd = body.indexOf('\r\n\r\n', start);
    if (headerEnd < 0) break;
    const headers = body.subarray(start + 2, headerEnd).toString('utf8');
    const next = body.indexOf(boundary, headerEnd + 4);
    if (next < 0) break;
    const data = body.subarray(headerEnd + 4, next - 2); // strip the CRLF before the boundary
    const name = /name="([^"]*)"/i.exec(headers)?.[1] ?? '';
    const filename = /filename="([^"]*)"/i.exec(headers)?.[1] ?? null;
    parts.push({ name, filename, data });
    pos = next;
  }
  return parts;
}
