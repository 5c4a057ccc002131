// Tokens and the current workspace, kept in localStorage (see docs/web.md).

const ACCESS = "maily.access_token";
const REFRESH = "maily.refresh_token";
const WORKSPACE = "maily.workspace_id";

export type Tokens = { access_token: string; refresh_token: string };

function storage(): Storage | null {
  return typeof window === "undefined" ? null : window.localStorage;
}

export function accessToken(): string | null {
  return storage()?.getItem(ACCESS) ?? null;
}

export function refreshToken(): string | null {
  return storage()?.getItem(REFRESH) ?? null;
}

export function saveTokens(tokens: Tokens): void {
  storage()?.setItem(ACCESS, tokens.access_token);
  storage()?.setItem(REFRESH, tokens.refresh_token);
}

export function clearSession(): void {
  storage()?.removeItem(ACCESS);
  storage()?.removeItem(REFRESH);
}

export function storedWorkspaceId(): string | null {
  return storage()?.getItem(WORKSPACE) ?? null;
}

export function storeWorkspaceId(id: string): void {
  storage()?.setItem(WORKSPACE, id);
}

export function isSignedIn(): boolean {
  return accessToken() !== null || refreshToken() !== null;
}
