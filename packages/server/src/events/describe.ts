/**
 * The event log's readable texts: each logged event gets a stable `code`, its `params` and an
 * English `message` (the web shows `server.codes.<code>` in the viewer's language). Pure.
 */
export interface EventText {
  code: string;
  message: string;
  params: Record<string, unknown>;
}

/** Every code describeEvent can give, besides alert codes (an alert keeps its own). */
export const eventCodes = [
  'printer_status',
  'printer_added',
  'printer_updated',
  'printer_removed',
  'queue_changed',
  'job_started',
  'job_finished',
  'job_failed',
  'file_added',
  'file_removed',
  'credentials_revoked',
  'plugin_state',
  'plugin_message',
  'queue_finished',
  'event_other',
] as const;

const str = (v: unknown) => (typeof v === 'string' ? v : v == null ? '' : String(v));

export function describeEvent(type: string, data: unknown): EventText {
  const d = (data ?? {}) as Record<string, any>;
  switch (type) {
    case 'alert':
      return { code: str(d.code) || 'event_other', message: str(d.message), params: (d.params as Record<string, unknown>) ?? {} };
    case 'printer.state':
      return { code: 'printer_status', message: `printer is ${str(d.status)}`, params: { status: str(d.status) } };
    case 'printer.added':
      return { code: 'printer_added', message: `printer ${str(d.printer?.name)} added`, params: { printerName: str(d.printer?.name) } };
    case 'printer.updated':
      return { code: 'printer_updated', message: `printer ${str(d.printer?.name)} changed`, params: { printerName: str(d.printer?.name) } };
    case 'printer.removed':
      return { code: 'printer_removed', message: 'printer removed', params: {} };
    case 'queue.changed':
      return { code: 'queue_changed', message: `queue changed (${str(d.reason)})`, params: { reason: str(d.reason) } };
    case 'job.started':
      return { code: 'job_started', message: `${str(d.fileName)} started`, params: { fileName: str(d.fileName), jobId: str(d.jobId) } };
    case 'job.finished':
      return { code: 'job_finished', message: `${str(d.fileName)} finished`, params: { fileName: str(d.fileName), jobId: str(d.jobId) } };
    case 'job.failed':
      return {
        code: 'job_failed',
        message: `${str(d.fileName)} failed: ${str(d.reason)}`,
        params: { fileName: str(d.fileName), jobId: str(d.jobId), reason: str(d.reason) },
      };
    case 'file.added':
      return { code: 'file_added', message: `${str(d.name)} uploaded`, params: { name: str(d.name) } };
    case 'file.removed':
      return { code: 'file_removed', message: 'file removed', params: {} };
    case 'auth.revoked':
      return { code: 'credentials_revoked', message: `credentials revoked (${str(d.reason)})`, params: { reason: str(d.reason) } };
    case 'plugin.state':
      return {
        code: 'plugin_state',
        message: `plugin ${str(d.pluginId)} is ${str(d.state)}${d.reason ? ` (${str(d.reason)})` : ''}`,
        params: { pluginId: str(d.pluginId), state: str(d.state), reason: str(d.reason) },
      };
    case 'plugin.message':
      return { code: 'plugin_message', message: `message from plugin ${str(d.pluginId)}`, params: { pluginId: str(d.pluginId) } };
    case 'queue.finished':
      return {
        code: 'queue_finished',
        message: `queue finished: ${d.done} done, ${d.failed} failed, ${d.cancelled} cancelled`,
        params: { done: d.done, failed: d.failed, cancelled: d.cancelled },
      };
    default:
      return { code: 'event_other', message: type, params: { type } };
  }
}
