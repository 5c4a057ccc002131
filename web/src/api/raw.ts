// Calls to endpoints that are not in web/openapi.json yet (built alongside the UI).
// Once they are, use the typed `api` client instead.
import { API_BASE, authedFetch } from "./client";
import { toApiError } from "./errors";

export async function rawJson<T>(method: string, path: string, body?: unknown): Promise<T> {
  const request = new Request(`${API_BASE || window.location.origin}${path}`, {
    method,
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const response = await authedFetch(request);
  const text = await response.text();
  const parsed: unknown = text ? JSON.parse(text) : undefined;
  if (!response.ok) throw toApiError(response.status, parsed);
  return parsed as T;
}
