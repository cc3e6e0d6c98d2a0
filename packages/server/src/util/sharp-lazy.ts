/**
 * sharp (libvips) loaded on first use: its native library costs a few hundred ms, which a server
 * that never touches an image (no camera, AI off) should not pay at start.
 */
import type SharpType from 'sharp';

let loading: Promise<typeof SharpType> | null = null;

export function loadSharp(): Promise<typeof SharpType> {
  loading ??= import('sharp').then(
    (m) => (m as { default?: typeof SharpType }).default ?? (m as unknown as typeof SharpType),
  );
  return loading;
}
