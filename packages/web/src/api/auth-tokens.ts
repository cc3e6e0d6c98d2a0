import { ref } from 'vue';
import type { Tokens } from './types.ts';

/** Access + refresh tokens, kept in localStorage so a reload stays logged in. */
const STORAGE_KEY = 'rwc.tokens';

function load(): Tokens | null {
  try {
    const raw = localStorage.getItem(STORAGE_KEY);
    return raw ? (JSON.parse(raw) as Tokens) : null;
  } catch {
    return null;
  }
}

export const tokens = ref<Tokens | null>(load());

export function setTokens(next: Tokens | null): void {
  tokens.value = next;
  if (next) localStorage.setItem(STORAGE_KEY, JSON.stringify(next));
  else localStorage.removeItem(STORAGE_KEY);
}

export function isLoggedIn(): boolean {
  return tokens.value !== null;
}

/** Reads the `sub`/`role`/`username` claims of the access token (display only; the server decides). */
export function tokenClaims(): { username?: string; role?: string; sub?: string } {
  const access = tokens.value?.accessToken;
  if (!access) return {};
  const payload = access.split('.')[1];
  if (!payload) return {};
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    return JSON.parse(json) as { username?: string; role?: string; sub?: string };
  } catch {
    return {};
  }
}
