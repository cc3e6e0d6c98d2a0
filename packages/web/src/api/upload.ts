import { authHeader, refreshTokens, ApiRequestError } from './http.ts';
import type { FileRecord } from './types.ts';

/** One multipart POST to /api/v1/files; XMLHttpRequest because fetch has no upload progress. */
function sendOnce(file: File, onProgress: (percent: number) => void): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open('POST', 'api/v1/files');
    for (const [name, value] of Object.entries(authHeader())) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (e) => {
      if (e.lengthComputable) onProgress(Math.round((e.loaded / e.total) * 100));
    };
    xhr.onload = () => resolve({ status: xhr.status, body: xhr.responseText });
    xhr.onerror = () => reject(new ApiRequestError(0, 'network_error', 'network error during upload'));
    const form = new FormData();
    form.append('file', file, file.name);
    xhr.send(form);
  });
}

export async function uploadFile(file: File, onProgress: (percent: number) => void): Promise<FileRecord> {
  let res = await sendOnce(file, onProgress);
  if (res.status === 401 && (await refreshTokens())) res = await sendOnce(file, onProgress);
  if (res.status >= 200 && res.status < 300) return JSON.parse(res.body) as FileRecord;
  let code = `http_${res.status}`;
  let message = `HTTP ${res.status}`;
  let params: Record<string, unknown> = {};
  try {
    const parsed = JSON.parse(res.body) as { error?: { code?: string; message?: string; params?: Record<string, unknown> } };
    code = parsed.error?.code ?? code;
    message = parsed.error?.message ?? message;
    params = parsed.error?.params ?? {};
  } catch {
    // keep the status
  }
  throw new ApiRequestError(res.status, code, message, params);
}
