import { ValidationError } from '../../errors.ts';

export interface MoonrakerConnection {
  url: string;
  apiKey: string | null;
  /** 'header' sends X-Api-Key on the websocket upgrade; 'oneshot' fetches /access/oneshot_token and uses ?token=. */
  auth: 'header' | 'oneshot';
  /** Seconds to wait for print_stats to show the job printing after printer.print.start. */
  startConfirmSeconds: number;
}

/** `{url: 'http://host:port', apiKey?}`. */
export function parseMoonrakerConnection(input: unknown): MoonrakerConnection {
  if (!input || typeof input !== 'object') throw new ValidationError('connection', 'must be an object');
  const c = input as Record<string, unknown>;
  if (typeof c.url !== 'string') throw new ValidationError('connection.url', 'is required (http://host:port)');
  let url: URL;
  try {
    url = new URL(c.url);
  } catch {
    throw new ValidationError('connection.url', 'is not a valid URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ValidationError('connection.url', 'must start with http:// or https://');
  }
  if (c.apiKey !== undefined && c.apiKey !== null && (typeof c.apiKey !== 'string' || !c.apiKey)) {
    throw new ValidationError('connection.apiKey', 'must be a non-empty string');
  }
  if (c.auth !== undefined && c.auth !== 'header' && c.auth !== 'oneshot') {
    throw new ValidationError('connection.auth', "must be 'header' or 'oneshot'");
  }
  const confirm = c.startConfirmSeconds ?? 30;
  if (typeof confirm !== 'number' || confirm <= 0) throw new ValidationError('connection.startConfirmSeconds', 'must be > 0');
  return {
    url: url.origin,
    apiKey: (c.apiKey as string | undefined) ?? null,
    auth: (c.auth as 'header' | 'oneshot' | undefined) ?? 'header',
    startConfirmSeconds: confirm,
  };
}
