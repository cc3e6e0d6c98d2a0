/**
 * Seed 002's asynchronous AI service as a detector (§4.2–4.3): we issue a task, send
 * `POST {url}/api/v1/predict {image_url, task_id, callback_url}` with `Authorization: Bearer <token>`,
 * expect `{"status":"accepted"}`, and wait for the result at our callback (tasks.ts checks its
 * credential). The result's `detections` (api.md Additions) are used when present; a seed-only
 * answer (`has_defect`, `defect_type`, `confidence`) becomes one box over the whole frame.
 */
import { loadSharp } from '../../util/sharp-lazy.ts';
import type { Detection, DetectorCapability } from '../../registry/capabilities.ts';
import type { SeedCallbackBody, TaskBroker } from '../tasks.ts';
import { DetectorError, confidenceOf, requestJson } from './http.ts';

export interface SeedServiceConfig {
  /** Base URL of the service, e.g. https://ai.example.com (its predict path is /api/v1/predict). */
  url: string;
  /** Bearer token the service expects (seed §4.2 "JWT_TOKEN"), if any. */
  token?: string | null;
  /** How long the result may take to arrive, seconds (default 60). */
  timeoutSeconds?: number;
}

/** Turns a callback body into detections in pixels of a width×height frame. */
export function detectionsFromSeedResult(body: SeedCallbackBody, width: number, height: number): Detection[] {
  if (body.status !== 'success')
    throw new DetectorError(
      'detector_failed',
      `the AI service reported an error${body.message ? `: ${body.message}` : ''}`,
    );
  const r = body.result;
  if (!r || typeof r !== 'object') throw new DetectorError('detector_bad_answer', 'the AI service sent no result');
  if (Array.isArray(r.detections)) {
    return r.detections.flatMap((d) => {
      const confidence = confidenceOf(d?.confidence);
      const box = d?.box;
      if (
        confidence === null ||
        !Array.isArray(box) ||
        box.length !== 4 ||
        !box.every((v) => typeof v === 'number' && Number.isFinite(v))
      )
        return [];
      return [
        {
          label: typeof d.label === 'string' && d.label ? d.label : 'failure',
          confidence,
          box: box as Detection['box'],
        },
      ];
    });
  }
  if (r.has_defect !== true) return [];
  const confidence = confidenceOf(r.confidence);
  if (confidence === null)
    throw new DetectorError('detector_bad_answer', 'the AI service sent has_defect without a confidence from 0 to 1');
  return [
    {
      label: typeof r.defect_type === 'string' && r.defect_type ? r.defect_type : 'failure',
      confidence,
      box: [0, 0, width, height],
    },
  ];
}

export function seedServiceDetector(name: string, config: SeedServiceConfig, tasks: TaskBroker): DetectorCapability {
  const base = config.url.replace(/\/+$/, '');
  const timeoutMs = (config.timeoutSeconds ?? 60) * 1000;
  return {
    async detect(frame, opts) {
      const meta = await (await loadSharp())(frame.jpeg).metadata();
      const task = await tasks.create({
        detector: name,
        printerId: frame.printerId ?? null,
        jpeg: frame.jpeg,
        timeoutMs,
        signal: opts?.signal,
      });
      try {
        const answer = (await requestJson(`${base}/api/v1/predict`, {
          body: { image_url: task.imageUrl, task_id: task.id, callback_url: task.callbackUrl },
          headers: config.token ? { authorization: `Bearer ${config.token}` } : {},
          timeoutMs: Math.min(timeoutMs, 15_000),
          signal: opts?.signal,
          what: 'AI service',
        })) as { status?: unknown } | null;
        if (answer?.status !== 'accepted') {
          throw new DetectorError(
            'detector_bad_answer',
            `AI service did not accept the task (status ${JSON.stringify(answer?.status ?? null)})`,
          );
        }
      } catch (err) {
        tasks.cancel(task.id, (err as Error).message);
        throw err;
      }
      let body: SeedCallbackBody;
      try {
        body = await task.result;
      } catch (err) {
        throw new DetectorError('detector_timeout', `AI service: ${(err as Error).message}`);
      }
      const detections = detectionsFromSeedResult(body, meta.width ?? 0, meta.height ?? 0);
      const model =
        typeof body.result?.predict_model === 'string' && body.result.predict_model ? body.result.predict_model : name;
      return { detections, model };
    },
  };
}
