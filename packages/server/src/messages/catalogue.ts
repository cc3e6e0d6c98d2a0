/**
 * Every stable code the server puts into its answers, states, alerts and event log, by kind. The
 * web shows `server.codes.<code>` (packages/web/src/i18n/parts/server-codes.ts) in the viewer's
 * language with the item's params, and falls back to the server's English `message`.
 * test/operator/message-catalogue.test.ts fails when the source produces a code that is not here,
 * or a code here has no text in English or Chinese.
 */
import { eventCodes } from '../events/describe.ts';
import { STAGES } from '../printers/bambu/stages.ts';
import { connectionCodes } from '../printers/connection-issue.ts';

export type MessageKind = 'connection' | 'alert' | 'event' | 'stage' | 'error' | 'gate' | 'wait' | 'idle';

/** Alerts (things a person must act on). */
export const alertCodes = [
  'printer_unreachable',
  'printer_error',
  'plate_clear_wanted',
  'start_not_confirmed',
  'start_refused',
  'cancel_failed',
  'job_failed',
  'queue_finished',
  'job_outcome_unknown',
  'queue_paused_printer_error',
  'ai_failure_warning',
  'ai_paused_print',
  'ai_pause_failed',
  'bambu_verify_failed',
  'plugin_disabled',
  'notification_failed',
  'robot_deadman_stop',
  'robot_estop',
  'robot_worker_crashed',
  'robot_worker_failed',
  'robot_worker_killed',
  'robot_project_load_failed',
  'robot_worker_spawn_failed',
] as const;

/** Printer-page stages besides Bambu's numbered ones. */
export const stageCodes = ['uploading_to_sd', 'bambu_stage_unknown', ...Object.keys(STAGES).map((n) => `bambu_stage_${n}`)];

/** Gate codes the presenter itself gives (the queue's own come from its gatekeeper). */
export const gateCodes = ['queue_not_running'] as const;

/**
 * The queue's wait reasons (`waitingReason.code`), idle reasons (`state.idleReason.code`) and its
 * API's own error codes (queue/wait-reasons.ts, queue-service.ts, job-history.ts). Their texts live
 * in the web's parts/queue-reasons.ts (`queueReasons.wait|idle|errors.<code>`), where the UI looks.
 */
export const queueWaitCodes = ['queue_paused', 'printers_busy', 'printers_cooling_down', 'printers_unavailable', 'no_ams_match'] as const;
export const queueIdleCodes = ['queue_empty', 'gate_closed', 'nothing_fits'] as const;
export const queueErrorCodes = [
  'override_unsupported', 'bad_ams_mapping', 'job_not_active', 'item_not_cancellable', 'item_not_retryable',
  'job_not_retryable', 'bad_cursor', 'bad_time', 'bad_outcome',
] as const;

/**
 * Error codes of HTTP answers (`error.code`), driver refusals (`DriverError.code`, `state.error.code`)
 * and notices. Kept as one list: a code means the same wherever it appears.
 */
export const errorCodes = [
  // HTTP and validation
  'validation_error', 'bad_request', 'bad_url', 'uri_too_long', 'not_found', 'conflict', 'invalid', 'unauthenticated',
  'unauthorized', 'forbidden', 'too_large', 'too_deep', 'rate_limited', 'too_many_attempts', 'unavailable', 'internal_error',
  'upgrade_required', 'database_unavailable', 'no_space', 'insufficient_storage', 'disk_full', 'invalid_json', 'invalid_input',
  'range_not_satisfiable', 'query_credentials',
  // accounts
  'invalid_credentials', 'invalid_token', 'invalid_refresh_token', 'token_expired', 'token_revoked', 'invalid_api_key',
  'wrong_password', 'user_exists', 'last_admin', 'cannot_delete_self', 'not_a_user', 'setup_done',
  // printers and drivers
  'printer_not_found', 'printer_name_taken', 'printer_busy', 'printer_offline', 'printer_disabled', 'printer_error',
  'invalid_printer_state', 'not_supported', 'not_connected', 'not_printing', 'not_paused', 'not_ready', 'not_simulated',
  'busy', 'closed', 'aborted', 'reconnecting', 'disconnected', 'no_hello', 'firmware_error', 'emergency_stop', 'estop',
  'command_refused', 'command_timeout', 'command_not_sent', 'command_not_stored', 'publish_failed', 'call_timeout',
  'verify_failed', 'tls_certificate', 'certificate_not_presented', 'no_certificate', 'print_error', 'printer_paused_fault',
  'printer_state_unknown', 'klippy_shutdown', 'klippy_error', 'start_timeout', 'prepare_failed', 'upload_failed',
  'shutting_down', 'stopped', 'cancelled', 'snapshot_failed', 'no_camera', 'print_unsupported', 'invalid_job_id',
  'invalid_plateindex', 'timeout', 'unreachable',
  // queue and files
  'no_printer_fits', 'no_printers', 'printer_model_mismatch', 'printer_model_unknown', 'printer_nozzle_mismatch',
  'printer_nozzle_unknown', 'file_kind_unsupported', 'file_missing', 'file_changed', 'file_in_use', 'item_cancelled',
  'queue_full', 'queue_not_running', 'invalid_file', 'unsupported_file', 'multiple_files', 'wrong_file_field',
  'not_multipart', 'malformed_multipart', 'metadata_too_large', 'parse_timeout', 'file_too_complex', 'library_busy',
  'invalid_archive', 'not_an_image', 'image_too_large', 'server_restarted', 'server_stopping',
  // scale-out
  'printer_elsewhere',
  // agents
  'agent_not_created', 'agent_offline', 'agent_revoked', 'agent_unknown_status', 'unknown_agent',
  // vision
  'bad_task_credential', 'unknown_task', 'task_finished', 'unknown_camera', 'frame_not_found', 'camera_failed',
  'camera_unavailable', 'camera_unreachable', 'camera_timeout', 'camera_http_error', 'camera_bad_image', 'camera_too_large',
  'detector_exists', 'detector_not_found', 'detector_failed', 'detector_unavailable', 'detector_unreachable',
  'detector_timeout', 'detector_http_error', 'detector_bad_answer',
  // plugins and robot
  'plugin_not_found', 'plugin_not_running', 'plugin_unavailable', 'plugin_state_invalid', 'invalid_manifest',
  'invalid_config', 'dependency_conflict', 'dependency_missing', 'dependency_unsupported', 'install_in_progress',
  'no_requirements', 'requirements_install_failed', 'venv_failed', 'run_not_found', 'run_finished', 'no_such_entry',
  'worker_crashed', 'worker_exited', 'worker_failed', 'worker_killed', 'worker_restarted', 'worker_restarting',
  'worker_unavailable', 'load_failed', 'load_timeout', 'invalid_project',
] as const;

export interface CatalogueEntry {
  code: string;
  kind: MessageKind;
  /** The vue-i18n key of its text in both web languages. */
  key: string;
}

/** The web key of a code. */
export const webKeyOf = (code: string): string => `server.codes.${code}`;

/** The whole catalogue (GET /api/v1/messages); a code listed under several kinds appears once, first kind wins. */
export function messageCatalogue(): CatalogueEntry[] {
  const out = new Map<string, CatalogueEntry>();
  const put = (kind: MessageKind, codes: readonly string[], keyOf: (code: string) => string = webKeyOf) => {
    for (const code of codes) if (!out.has(code)) out.set(code, { code, kind, key: keyOf(code) });
  };
  put('connection', connectionCodes);
  put('alert', alertCodes);
  put('event', eventCodes);
  put('stage', stageCodes);
  put('gate', gateCodes);
  put('wait', queueWaitCodes, (c) => `queueReasons.wait.${c}`);
  put('idle', queueIdleCodes, (c) => `queueReasons.idle.${c}`);
  put('error', queueErrorCodes, (c) => `queueReasons.errors.${c}`);
  put('error', errorCodes);
  return [...out.values()];
}
