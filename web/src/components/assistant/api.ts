"use client";
// The AI assistant's API (docs/ai.md): tasks streamed over SSE, and the suggestions they
// leave, which become templates only when a person accepts them.
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useRef, useState } from "react";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import { useWorkspaceId } from "@/api/workspace";

import { postStream } from "./http";

export type AIEvent = { task_id?: string; seq?: number; kind: string; agent?: string; message: string; data?: Record<string, unknown> | null };
export type CheckFinding = { check: string; severity: "error" | "warning"; message: string; where?: string };
export type CheckReport = { passed: boolean; findings: CheckFinding[]; spam?: { score: number; threshold: number; is_spam: boolean } | null };
export type SubjectLine = { text: string; preheader?: string; score: number; rationale?: string };
export type Usage = { requests?: number; input_tokens?: number; output_tokens?: number; cost_usd?: number; models?: string[] };
export type CampaignDraft = {
  subject_lines: SubjectLine[];
  preheader: string;
  mjml: string;
  html: string;
  text: string;
  checks: CheckReport;
  iterations: number;
  budget_exhausted?: boolean;
  usage?: Usage;
};
export type RevisedTemplate = { subject: string; mjml: string; html: string; text: string; notes?: string; checks: CheckReport; usage?: Usage };
export type SubjectLineSuggestions = { items: SubjectLine[]; usage?: Usage };
export type TaskResult = Record<string, unknown>;

export type Suggestion = {
  id: string;
  task_id: string;
  kind: "draft_campaign" | "revise_template" | "subject_lines" | "personalisation" | string;
  status: "ready" | "accepted" | "discarded";
  request: Record<string, unknown>;
  result: TaskResult;
  created_by: string | null;
  template_id: string | null;
  created_at: string;
  decided_at: string | null;
};

export type TaskPath = "drafts" | "revisions" | "subject-lines" | "personalisation";

export class TaskFailed extends Error {
  readonly reason: string;
  constructor(message: string, reason: string) {
    super(message);
    this.name = "TaskFailed";
    this.reason = reason;
  }
}

/** Runs one task with its progress streamed in; the last result or error stays. */
export function useAiTask(path: TaskPath) {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  const [events, setEvents] = useState<AIEvent[]>([]);
  const [result, setResult] = useState<{ suggestion_id: string; result: TaskResult } | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [running, setRunning] = useState(false);
  const abort = useRef<AbortController | null>(null);

  const run = useCallback(
    async (body: Record<string, unknown>) => {
      abort.current?.abort();
      const controller = new AbortController();
      abort.current = controller;
      setEvents([]);
      setResult(null);
      setError(null);
      setRunning(true);
      try {
        await postStream(
          `/api/v1/workspaces/${ws}/ai/${path}`,
          body,
          ({ event, data }) => {
            if (event === "progress") {
              setEvents((list) => [...list, data as AIEvent]);
            } else if (event === "result") {
              const d = data as { suggestion_id: string; result: TaskResult };
              setResult({ suggestion_id: d.suggestion_id, result: d.result });
            } else if (event === "error") {
              const d = data as { message?: string; reason?: string };
              setError(new TaskFailed(d.message ?? "the assistant could not finish", d.reason ?? "error"));
            }
          },
          controller.signal,
        );
        void queryClient.invalidateQueries({ queryKey: ["ai", ws, "suggestions"] });
      } catch (err) {
        if (!(err instanceof DOMException && err.name === "AbortError")) setError(err);
      } finally {
        if (abort.current === controller) {
          abort.current = null;
          setRunning(false);
        }
      }
    },
    [ws, path, queryClient],
  );

  const stop = useCallback(() => {
    abort.current?.abort();
    abort.current = null;
    setRunning(false);
  }, []);

  return { run, stop, events, result, error, running };
}

export function useSuggestions(status?: string) {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["ai", ws, "suggestions", status ?? "all"],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/ai/suggestions", {
          params: {
            path: { workspace_id: ws },
            query: { limit: 100, status: status as "ready" | "accepted" | "discarded" | undefined },
          },
        }),
      ),
  });
}

export function useAcceptSuggestion() {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ id, subject_index, name }: { id: string; subject_index?: number; name?: string }) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/ai/suggestions/{suggestion_id}/accept", {
          params: { path: { workspace_id: ws, suggestion_id: id } },
          body: { subject_index, name: name?.trim() || undefined },
        }),
      ),
    onSuccess: () => {
      void queryClient.invalidateQueries({ queryKey: ["ai", ws, "suggestions"] });
      void queryClient.invalidateQueries({ queryKey: ["templates", ws, "list"] });
    },
  });
}

export function useDiscardSuggestion() {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/ai/suggestions/{suggestion_id}/discard", {
          params: { path: { workspace_id: ws, suggestion_id: id } },
        }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["ai", ws, "suggestions"] }),
  });
}
