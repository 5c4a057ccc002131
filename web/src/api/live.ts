"use client";
// The workspace's live feed: a one-time ticket, then a WebSocket (docs/realtime.md).
// Reconnects with a fresh ticket when the socket closes.
import { useEffect, useRef, useState } from "react";

import { API_BASE, api } from "./client";

export type LiveMessage = { type: string; [key: string]: unknown };

function socketUrl(path: string, ticket: string): string {
  const base = API_BASE || window.location.origin;
  const url = new URL(path, base);
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  url.searchParams.set("ticket", ticket);
  return url.toString();
}

/** Calls onMessage for each live message; returns whether the feed is connected. */
export function useLive(workspaceId: string, onMessage: (message: LiveMessage) => void): boolean {
  const handler = useRef(onMessage);
  handler.current = onMessage;
  const [connected, setConnected] = useState(false);

  useEffect(() => {
    let socket: WebSocket | null = null;
    let stopped = false;
    let retry: ReturnType<typeof setTimeout> | null = null;
    let attempts = 0;

    const connect = async () => {
      const { data } = await api
        .POST("/api/v1/workspaces/{workspace_id}/live/tickets", {
          params: { path: { workspace_id: workspaceId } },
        })
        .catch(() => ({ data: undefined }));
      if (stopped) return;
      if (!data) {
        schedule();
        return;
      }
      socket = new WebSocket(socketUrl(data.path, data.ticket));
      socket.onmessage = (event) => {
        try {
          const message = JSON.parse(String(event.data)) as LiveMessage;
          if (message.type === "ready") {
            attempts = 0;
            setConnected(true);
          }
          handler.current(message);
        } catch {
          // not JSON: not ours
        }
      };
      socket.onclose = () => {
        setConnected(false);
        if (!stopped) schedule();
      };
    };

    const schedule = () => {
      attempts += 1;
      retry = setTimeout(() => void connect(), Math.min(30_000, 500 * 2 ** attempts));
    };

    void connect();
    return () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      socket?.close();
    };
  }, [workspaceId]);

  return connected;
}
