// The typed API client: openapi-fetch over the generated schema (npm run gen:api).
// Sends the access token, refreshes it once on a 401, then sends the person to /signin/.
import createClient from "openapi-fetch";

import type { paths } from "./schema";
import { accessToken, clearSession, refreshToken, saveTokens, type Tokens } from "./session";

// Empty: the same origin as the page (`maily api` serves both). For `next dev`, set
// NEXT_PUBLIC_MAILY_API_URL=http://127.0.0.1:8000 and MAILY_API__CORS_ORIGINS.
export const API_BASE = (process.env.NEXT_PUBLIC_MAILY_API_URL ?? "").replace(/\/$/, "");

let refreshing: Promise<boolean> | null = null;

async function refreshOnce(): Promise<boolean> {
  const token = refreshToken();
  if (!token) return false;
  if (!refreshing) {
    refreshing = (async () => {
      try {
        const response = await fetch(`${API_BASE}/api/v1/auth/refresh`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ refresh_token: token }),
        });
        if (!response.ok) return false;
        saveTokens((await response.json()) as Tokens);
        return true;
      } catch {
        return false;
      } finally {
        setTimeout(() => {
          refreshing = null;
        }, 0);
      }
    })();
  }
  return refreshing;
}

export function signOutLocally(): void {
  clearSession();
  if (typeof window !== "undefined" && !window.location.pathname.startsWith("/signin")) {
    const next = encodeURIComponent(window.location.pathname + window.location.search);
    window.location.assign(`/signin/?next=${next}`);
  }
}

function withToken(request: Request): Request {
  const token = accessToken();
  if (token) request.headers.set("Authorization", `Bearer ${token}`);
  return request;
}

const NO_REFRESH = ["/api/v1/auth/token", "/api/v1/auth/refresh", "/api/v1/auth/signup"];

/** fetch with the session: the token on every call, one refresh on a 401. */
export async function authedFetch(input: Request): Promise<Response> {
  const retry = input.clone();
  const response = await fetch(withToken(input));
  const path = new URL(input.url, "http://x").pathname;
  if (response.status !== 401 || NO_REFRESH.includes(path) || !refreshToken()) {
    return response;
  }
  if (await refreshOnce()) {
    const again = await fetch(withToken(retry));
    if (again.status !== 401) return again;
  }
  signOutLocally();
  return response;
}

export const api = createClient<paths>({
  baseUrl: API_BASE,
  fetch: authedFetch,
});
