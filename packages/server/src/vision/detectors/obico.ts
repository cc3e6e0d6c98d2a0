/**
 * Obico's ML API as a detector (octoprint-moonraker-obico.md §4.1): `GET {url}/p/?img=<image URL>`
 * with `Authorization: Bearer <ML_API_TOKEN>`. The API downloads the image itself, so we hand it a
 * task URL for the frame (credential in the query; tasks.ts). The answer
 * `{"detections": [[label, confidence, [xc, yc, w, h]], …]}` has centre-based boxes in pixels of the
 * original image; we turn them into top-left boxes.
 */
import type { Detection, DetectorCapability } from '../../registry/capabilities.ts';
import type { TaskBroker } from '../tasks.ts';
import { DetectorError, confidenceOf, requestJson } from './http.ts';

export interface ObicoConfig {
  /** Base URL of the ML API, e.g. http://obico-ml:3333. */
  url: string;
  token?: string | null;
  timeoutSeconds?: number;
}

/** Parses Obico's answer; throws a DetectorError for anything that is not its shape. */
export function parseObicoAnswer(answer: unknown): Detection[] {
  const list = (answer as { detections?: unknown } | null)?.detections;
  if (!Array.isArray(list))
    throw new DetectorError('detector_bad_answer', 'Obico ML API: the answer has no detections list');
  return list.map((d, i) => {
    const [label, conf, box] = Array.isArray(d) ? d : [];
    const confidence = confidenceOf(conf);
    if (
      typeof label !== 'string' ||
      confidence === null ||
      !Array.isArray(box) ||
      box.length !== 4 ||
      !box.every((v) => typeof v === 'number' && Number.isFinite(v))
    ) {
      throw new DetectorError(
        'detector_bad_answer',
        `Obico ML API: detection ${i} is not [label, confidence, [xc, yc, w, h]]`,
      );
    }
    const [xc, yc, w, h] = box as number[];
    return { label, confidence, box: [xc! - w! / 2, yc! - h! / 2, w!, h!] };
  });
}

export function obicoDetector(name: string, config: ObicoConfig, tasks: TaskBroker): DetectorCapability {
  const base = config.url.replace(/\/+$/, '');
  const timeoutMs = (config.timeoutSeconds ?? 30) * 1000;
  return {
    async detect(frame, opts) {
      // The task only serves the image; Obico answers in the same request, so no callback comes.
      const task = await tasks.create({
        detector: name,
        printerId: frame.printerId ?? null,
        jpeg: frame.jpeg,
        timeoutMs: timeoutMs + 5000,
        signal: opts?.signal,
      });
      try {
        const answer = await requestJson(`${base}/p/?img=${encodeURIComponent(task.imageUrl)}`, {
          headers: config.token ? { authorization: `Bearer ${config.token}` } : {},
          timeoutMs,
          signal: opts?.signal,
          what: 'Obico ML API',
        });
        return { detections: parseObicoAnswer(answer), model: 'obico-ml-api' };
      } finally {
        tasks.cancel(task.id, 'answered', 'done');
      }
    },
  };
}
