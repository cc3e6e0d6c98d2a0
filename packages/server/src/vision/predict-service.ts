/**
 * The server *offers* seed 002's AI service (§4.2): `POST /api/v1/predict {image_url, task_id,
 * callback_url}` answers `{"status":"accepted"}` at once; in the background the image is
 * downloaded (bounded in time and size), the local detector runs, and the result is posted to
 * `callback_url` in the seed's shape plus `detections` (api.md Additions). So the whole seed flow
 * runs on one machine, and another RealWorldClaw (or KlipperScreen-style client) can use this one
 * as its "cloud". Only authenticated operators may call it: it makes the server fetch and post to
 * URLs it is given.
 */
import type { Logger } from '../util/logger.ts';
import { fetchImage } from '../util/http-image.ts';
import type { DetectorHub } from './detectors/hub.ts';
import { type FrameLimits, normaliseImage } from './frame-store.ts';
import type { SeedCallbackBody } from './tasks.ts';

export interface PredictRequest {
  image_url: string;
  task_id: string;
  callback_url: string;
}

/** Boxes at or over this confidence make `has_defect` true in the seed's summary. */
const DEFECT_CONFIDENCE = 0.2;

export async function analyseForCallback(
  req: PredictRequest,
  deps: { detectors: DetectorHub; limits: FrameLimits; localImage?: Buffer | null },
): Promise<SeedCallbackBody> {
  try {
    // A frame of this server (the seed's snapshot → predict flow on one machine) is read from the
    // store: its URL needs a credential the detector does not have.
    const image =
      deps.localImage ?? (await fetchImage(req.image_url, { timeoutMs: 15_000, maxBytes: deps.limits.maxInputBytes }));
    const { jpeg } = await normaliseImage(image, deps.limits);
    const name = await deps.detectors.localName();
    const detector = deps.detectors.get(name);
    if (!detector) throw new Error(`local detector ${name} is not available`);
    const answer = await detector.detect({ jpeg });
    const counted = answer.detections.filter((d) => d.confidence >= DEFECT_CONFIDENCE);
    const top = counted.reduce<(typeof counted)[number] | null>(
      (b, d) => (!b || d.confidence > b.confidence ? d : b),
      null,
    );
    return {
      task_id: req.task_id,
      status: 'success',
      result: {
        predict_model: answer.model,
        has_defect: counted.length > 0,
        defect_type: top?.label ?? null,
        confidence: top?.confidence ?? 0,
        detections: answer.detections,
      },
    };
  } catch (err) {
    return { task_id: req.task_id, status: 'error', message: (err as Error).message.slice(0, 500) };
  }
}

/** Posts the result to the callback, retrying network errors and 5xx (1 s, 2 s, 4 s). */
export async function deliverCallback(
  url: string,
  body: SeedCallbackBody,
  logger: Logger,
  sleep = (ms: number) => new Promise((r) => setTimeout(r, ms)),
): Promise<number | null> {
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      await res.body?.cancel().catch(() => {});
      if (res.status < 500) return res.status;
    } catch (err) {
      logger.warn({ err: (err as Error).message, task: body.task_id }, 'predict callback failed; retrying');
    }
    if (attempt < 3) await sleep(1000 * 2 ** attempt);
  }
  return null;
}
