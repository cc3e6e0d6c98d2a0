/**
 * Request guards that run before a body is read: size by Content-Length, a deadline for small
 * bodies, closing connections whose body was never read, and the security headers.
 */
import type { FastifyHelmetOptions } from '@fastify/helmet';
import type { FastifyInstance } from 'fastify';
import { tooLarge } from '../errors.ts';
import { writeRawError } from './http-server.ts';

/** Room for multipart boundaries and part headers on top of the largest accepted file. */
const MULTIPART_OVERHEAD = 1024 * 1024;

const isMultipart = (contentType: string | undefined) => /^multipart\//i.test(contentType ?? '');

function announcesBody(headers: Record<string, unknown>): boolean {
  const len = headers['content-length'];
  return (len !== undefined && len !== '0') || headers['transfer-encoding'] !== undefined;
}

/**
 * - A Content-Length over the route's limit (uploads: the upload limit) is a 413 before any byte of
 *   the body is read.
 * - A small (non-multipart) body must arrive within `bodyTimeoutMs`, or the connection is closed:
 *   a client trickling a login body byte by byte holds nothing for long.
 * - An answer sent while the request body is still unread (401, 413, any early error) closes the
 *   connection instead of letting Node read and discard the rest, so a large unwanted body is
 *   never received and shutdown is not held by it.
 * Runs after the auth hook, so an unauthenticated request is refused before its size is looked at.
 */
export function installBodyGuards(app: FastifyInstance, opts: { maxUploadBytes: number; bodyTimeoutMs: number }): void {
  // Requests whose body is still arriving: on shutdown their connections are cut, so a slow
  // upload never holds the server open (the request fails; nothing half-received is kept).
  const receiving = new Set<import('node:http').IncomingMessage>();
  app.addHook('onRequest', async (request) => {
    const raw = request.raw;
    if (!raw.complete && announcesBody(request.headers)) {
      receiving.add(raw);
      const done = () => receiving.delete(raw);
      raw.once('end', done);
      raw.once('close', done);
    }
  });
  app.addHook('preClose', async () => {
    for (const raw of receiving) raw.socket?.destroy();
    receiving.clear();
  });
  app.addHook('onRequest', async (request) => {
    const raw = request.headers['content-length'];
    if (raw === undefined) return;
    const length = Number(raw);
    const multipart = isMultipart(request.headers['content-type']);
    const limit = multipart ? opts.maxUploadBytes + MULTIPART_OVERHEAD : (request.routeOptions.bodyLimit ?? 1024 * 1024);
    if (Number.isFinite(length) && length > limit) {
      throw tooLarge(`the request body (${length} bytes) is larger than this route accepts (${limit} bytes)`, 'too_large', { limit });
    }
  });

  app.addHook('preParsing', async (request, _reply, payload) => {
    if (request.raw.complete || isMultipart(request.headers['content-type'])) return payload;
    const timer = setTimeout(() => {
      request.log.warn({ url: request.url }, 'request body too slow; closing the connection');
      writeRawError(request.raw.socket, 408, 'request_timeout', `the request body did not arrive within ${opts.bodyTimeoutMs / 1000} s`);
      request.raw.socket.destroy();
    }, opts.bodyTimeoutMs);
    const clear = () => clearTimeout(timer);
    payload.once('end', clear);
    payload.once('close', clear);
    payload.once('error', clear);
    return payload;
  });

  app.addHook('onSend', async (request, reply, payload) => {
    if (!request.raw.complete && announcesBody(request.headers)) reply.header('connection', 'close');
    return payload;
  });
}

/**
 * True when a JSON text nests objects/arrays deeper than `max`. A linear scan over the text that
 * skips strings, so it costs nothing like parsing and never recurses.
 */
export function jsonDepthExceeds(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i++;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 /* { */ || c === 91 /* [ */) {
      if (++depth > max) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

/**
 * Helmet settings for the UI, the API and /api/docs. The Vue UI and Swagger UI load only their own
 * scripts ('self'); Element Plus and Swagger UI set inline styles, so style-src allows them. No
 * framing anywhere (clickjacking), no referrer leaves the page, and no HSTS or
 * upgrade-insecure-requests: the server usually runs over plain HTTP on a LAN.
 */
export function securityHeaders(): FastifyHelmetOptions {
  return {
    contentSecurityPolicy: {
      useDefaults: false,
      directives: {
        'default-src': ["'self'"],
        'base-uri': ["'self'"],
        'object-src': ["'none'"],
        'frame-ancestors': ["'none'"],
        'form-action': ["'self'"],
        'script-src': ["'self'"],
        'script-src-attr': ["'none'"],
        'style-src': ["'self'", "'unsafe-inline'"],
        'img-src': ["'self'", 'data:', 'blob:'],
        'font-src': ["'self'", 'data:'],
        'connect-src': ["'self'"],
        'worker-src': ["'self'", 'blob:'],
      },
    },
    strictTransportSecurity: false,
    crossOriginEmbedderPolicy: false,
    referrerPolicy: { policy: 'no-referrer' },
    xFrameOptions: { action: 'deny' },
  };
}
