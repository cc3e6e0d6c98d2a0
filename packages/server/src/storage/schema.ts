/**
 * Table shapes shared by SQLite and PostgreSQL. Booleans are stored as 0/1 integers and times as
 * ISO-8601 text so one set of queries runs on both.
 */
import type { ColumnType, Generated, Kysely } from 'kysely';

export interface UsersTable {
  id: string;
  username: string;
  password_hash: string;
  role: string;
  created_at: string;
  /** Bumped when the user's sessions must end (password change, deletion); tokens carry it. */
  token_version: Generated<number>;
}

export interface RefreshTokensTable {
  id: string;
  user_id: string;
  token_hash: string;
  /** All tokens from one login share a family; reuse of a rotated token revokes the family. */
  family_id: string;
  expires_at: string;
  revoked_at: string | null;
  replaced_by: string | null;
  created_at: string;
}

export interface ApiKeysTable {
  id: string;
  name: string;
  role: string;
  key_hash: string;
  /** First characters of the key, to let a user recognise it; not enough to use it. */
  prefix: string;
  created_by: string | null;
  created_at: string;
  last_used_at: string | null;
}

export interface PrintersTable {
  id: string;
  name: string;
  driver: string;
  model: string | null;
  enabled: number;
  /** JSON; secret fields are encrypted (see storage/secrets.ts). */
  connection_json: string;
  settings_json: string;
  position: number;
  created_at: string;
}

export interface EventsTable {
  id: Generated<number>;
  type: string;
  printer_id: string | null;
  data_json: string;
  at: string;
}

/** One alert (alerts/alert-store.ts); `seq` orders them (ids are UUIDs). */
export interface AlertsTable {
  id: string;
  seq: number;
  level: string;
  code: string;
  message: string;
  params_json: string;
  printer_id: string | null;
  at: string;
  acknowledged_at: string | null;
  acknowledged_by: string | null;
}

export interface FilesTable {
  id: string;
  name: string;
  size: number;
  sha256: string;
  md5: string;
  /** Path relative to the data dir. */
  stored_path: string;
  kind: string;
  printer_model: string | null;
  nozzle_diameter: number | null;
  /** JSON: plates and everything else the parser found. */
  meta_json: string;
  uploaded_at: string;
}

export interface QueueItemsTable {
  id: string;
  file_id: string;
  plate: number;
  copies: number;
  copies_done: number;
  status: string;
  position: number;
  overrides_json: string;
  printer_ids_json: string;
  last_error: string | null;
  created_at: string;
  updated_at: string;
  /** Migration 006: copies a person cancelled, copies that failed, explicit AMS mapping (JSON or null). */
  copies_cancelled: ColumnType<number, number | undefined, number>;
  copies_failed: ColumnType<number, number | undefined, number>;
  ams_mapping_json: ColumnType<string | null, string | null | undefined, string | null>;
}

export interface JobsTable {
  /** The dispatch id. */
  id: string;
  queue_item_id: string;
  printer_id: string;
  /** The id sent to the printer (Bambu task/subtask id). */
  job_id: string;
  status: string;
  error: string | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  /** Set right before the start command went out; null = provably never sent. */
  sent_at: string | null;
  /** Migration 005 (print history): copied in at dispatch so history outlives items and printers. */
  file_id: string | null;
  file_name: string | null;
  plate: number | null;
  printer_name: string | null;
  /** Username of whoever cancelled it from the platform; "printer" when cancelled on the printer. */
  cancelled_by: string | null;
  filament_grams: number | null;
  /** Started → ended, set when the job ends (null when it never started). */
  duration_seconds: number | null;
  /** When a person put this copy back into the queue (a copy is retried once). */
  retried_at: string | null;
}

export interface PrinterUploadsTable {
  printer_id: string;
  file_name: string;
  size: number;
  md5: string;
  uploaded_at: string;
}

export interface KvTable {
  key: string;
  value: string;
}

export interface PluginsTable {
  id: string;
  enabled: number;
  /** JSON; secret fields are encrypted (see storage/secrets.ts). */
  config_json: string;
  /** `builtin`, `folder` (the data dir's plugins folder), `npm`, `installed`. */
  source: string;
  dir: string;
  /** Why the host disabled it (`crash_loop`), or null when a person did or it is enabled. */
  disabled_reason: string | null;
  installed_at: string;
  updated_at: string;
}

export interface PluginStoreTable {
  plugin_id: string;
  key: string;
  value_json: string;
  updated_at: string;
}

export interface PluginRecordsTable {
  id: Generated<number>;
  plugin_id: string;
  /** `messages`, `events`, `lifecycle`. */
  topic: string;
  type: string;
  data_json: string;
  at: string;
}

export interface PluginRunsTable {
  id: string;
  plugin_id: string;
  entry: string;
  trigger: string;
  status: string;
  progress: number | null;
  stage: string | null;
  message: string | null;
  metrics_json: string;
  exports_json: string;
  result_json: string | null;
  error_json: string | null;
  parent_run_id: string | null;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
}

/** AI monitoring (vision/), migration 009. */
export interface VisionPrintersTable {
  printer_id: string;
  settings_json: string;
  state_json: string;
  updated_at: string;
}

export interface VisionFramesTable {
  id: string;
  printer_id: string | null;
  at: string;
  bytes: number;
  width: number | null;
  height: number | null;
  /** 1 = exempt from retention (the frame behind an AI pause or warning). */
  kept: number;
}

export interface VisionAnalysesTable {
  id: string;
  printer_id: string | null;
  job_id: string | null;
  print_key: string | null;
  at: string;
  trigger: string;
  detector: string;
  model: string | null;
  status: string;
  error: string | null;
  frame_id: string | null;
  width: number | null;
  height: number | null;
  detections_json: string;
  score: number | null;
  adjusted: number | null;
  verdict: string | null;
  reason: string | null;
}

export interface VisionTasksTable {
  id: string;
  detector: string;
  printer_id: string | null;
  frame_id: string | null;
  /** SHA-256 of the task's callback credential; the credential itself is never stored. */
  token_hash: string;
  status: string;
  created_at: string;
  expires_at: string;
  finished_at: string | null;
  result_json: string | null;
}

export interface VisionDetectorsTable {
  name: string;
  kind: string;
  /** JSON; secret fields encrypted (storage/secrets.ts). */
  config_json: string;
  created_at: string;
}

export interface AgentsTable {
  /** The id of the agent's API key (role `agent`). */
  id: string;
  name: string;
  created_at: string;
  created_by: string | null;
  revoked_at: string | null;
  last_seen_at: string | null;
  /** JSON: hostname, agent version, the printers it announced. */
  info_json: string;
  /** The agent's journal the seq numbers belong to. */
  journal_id: string | null;
  /** Highest event seq of that journal applied here. */
  last_seq: number;
}

export interface AgentCommandsTable {
  /** The dispatch id the agent deduplicates by. */
  id: string;
  agent_id: string;
  /** Agent-side printer id; null for an e-stop of every printer. */
  printer_id: string | null;
  kind: string;
  args_json: string;
  /** The file a startJob lets the agent download. */
  file_sha256: string | null;
  /** pending → sent → accepted → done | failed; or expired. */
  status: string;
  created_at: string;
  expires_at: string;
  sent_at: string | null;
  accepted_at: string | null;
  ended_at: string | null;
  error_code: string | null;
  error_message: string | null;
}

export interface Database {
  users: UsersTable;
  refresh_tokens: RefreshTokensTable;
  api_keys: ApiKeysTable;
  printers: PrintersTable;
  events: EventsTable;
  alerts: AlertsTable;
  files: FilesTable;
  queue_items: QueueItemsTable;
  jobs: JobsTable;
  printer_uploads: PrinterUploadsTable;
  kv: KvTable;
  plugins: PluginsTable;
  plugin_store: PluginStoreTable;
  plugin_records: PluginRecordsTable;
  plugin_runs: PluginRunsTable;
  vision_printers: VisionPrintersTable;
  vision_frames: VisionFramesTable;
  vision_analyses: VisionAnalysesTable;
  vision_tasks: VisionTasksTable;
  vision_detectors: VisionDetectorsTable;
  agents: AgentsTable;
  agent_commands: AgentCommandsTable;
}

export type Db = Kysely<Database>;
export type Dialect = 'sqlite' | 'postgres';
