"use client";
// The AI tasks' Server-Sent Events: openapi-fetch reads whole bodies, so the stream is
// read here, with the same session, token refresh and error shape as the typed client.
import { API_BASE, authedFetch } from "@/api/client";
import { toApiError } from "@/api/errors";

export type SseEvent = { event: string; data: unknown };

/**
 * POST with `Accept: text/event-stream` and read the answer as it arrives (fetch +
 * ReadableStream: EventSource cannot POST or send a token). Calls onEvent per event.
 */
export async function postStream(path: string, body: unknown, onEvent: (event: SseEvent) => void, signal?: AbortSignal): Promise<void> {
  const response = await authedFetch(
    new Request(`${API_BASE}${path}`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
      body: JSON.stringify(body),
      signal,
    }),
  );
  if (!response.ok) {
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = null;
    }
    throw toApiError(response.status, parsed);
  }
  const type = response.headers.get("content-type") ?? "";
  if (!type.includes("text/event-stream") || !response.body) {
    // A JSON answer: {task_id, suggestion_id, events, result}; replay it as events.
    const data = (await response.json()) as { events?: unknown[]; result?: unknown; task_id?: string; suggestion_id?: string };
    for (const e of data.events ?? []) onEvent({ event: "progress", data: e });
    onEvent({ event: "result", data });
    return;
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (value) buffer += value;
    // Events end with a blank line (LF or CRLF).
    let boundary = buffer.search(/\r?\n\r?\n/);
    while (boundary >= 0) {
      const chunk = buffer.slice(0, boundary);
      buffer = buffer.slice(boundary).replace(/^\r?\n\r?\n/, "");
      dispatch(chunk, onEvent);
      boundary = buffer.search(/\r?\n\r?\n/);
    }
    if (done) break;
  }
  if (buffer.trim()) dispatch(buffer, onEvent);
}

function dispatch(chunk: string, onEvent: (event: SseEvent) => void): void {
  let event = "message";
  const data: string[] = [];
  for (const line of chunk.split(/\r?\n/)) {
    if (line.startsWith(":")) continue; // comment / keep-alive
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (!data.length) return;
  const raw = data.join("\n");
  let parsed: unknown = raw;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = raw;
  }
  onEvent({ event, data: parsed });
}
