"use client";
// Templates through the API: list, one template, versions, validation (live preview), preview.
import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import type { Schemas } from "@/api/types";
import { useWorkspaceId } from "@/api/workspace";

export type TemplateOut = Schemas["TemplateOut"];
export type TemplateDetail = Schemas["TemplateDetail"];
export type TemplateKind = TemplateOut["kind"];
export type TemplateRole = TemplateOut["role"];
export type RenderedOut = Schemas["RenderedOut"];
export type VersionSummary = Schemas["VersionSummary"];
export type ValidateRequest = Schemas["ValidateRequest"];

export function useTemplates(role?: TemplateRole) {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["templates", ws, "list", role ?? "all"],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/templates", {
          params: { path: { workspace_id: ws }, query: { limit: 200, role } },
        }),
      ),
  });
}

export function useTemplate(id: string | null) {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["templates", ws, "one", id],
    enabled: !!id,
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/templates/{template_id}", {
          params: { path: { workspace_id: ws, template_id: id as string } },
        }),
      ),
  });
}

export function useVersions(id: string | null) {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["templates", ws, "versions", id],
    enabled: !!id,
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/templates/{template_id}/versions", {
          params: { path: { workspace_id: ws, template_id: id as string }, query: { limit: 200 } },
        }),
      ),
  });
}

export function useVersion(id: string | null, version: number | null) {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["templates", ws, "version", id, version],
    enabled: !!id && !!version,
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/templates/{template_id}/versions/{version}", {
          params: { path: { workspace_id: ws, template_id: id as string, version: version as number } },
        }),
      ),
  });
}

/** Compile and render unsaved content with sample data: the live preview and its errors. */
export function useValidation(body: ValidateRequest | null) {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["templates", ws, "validate", body],
    enabled: !!body && body.source.trim().length > 0,
    placeholderData: keepPreviousData,
    retry: false,
    staleTime: Infinity,
    queryFn: ({ signal }) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/templates/validate", {
          params: { path: { workspace_id: ws } },
          body: body as ValidateRequest,
          signal,
        }),
      ),
  });
}

/** A saved version rendered through the preview endpoint (sample contact, or one given). */
export function usePreview(id: string | null, version: number | null, contactId?: string | null, subject?: string) {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["templates", ws, "preview", id, version, contactId ?? null, subject ?? null],
    placeholderData: keepPreviousData,
    enabled: !!id,
    retry: false,
    queryFn: () =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/templates/{template_id}/preview", {
          params: { path: { workspace_id: ws, template_id: id as string } },
          body: { version: version ?? undefined, contact_id: contactId ?? undefined, subject: subject || undefined },
        }),
      ),
  });
}

export function useSaveTemplate(id: string | null) {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async (body: Schemas["TemplateCreate"] | Schemas["TemplateUpdate"]): Promise<TemplateDetail> => {
      if (id) {
        return unwrap(
          api.PATCH("/api/v1/workspaces/{workspace_id}/templates/{template_id}", {
            params: { path: { workspace_id: ws, template_id: id } },
            body: body as Schemas["TemplateUpdate"],
          }),
        );
      }
      return unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/templates", {
          params: { path: { workspace_id: ws } },
          body: body as Schemas["TemplateCreate"],
        }),
      );
    },
    onSuccess: (saved) => {
      queryClient.setQueryData(["templates", ws, "one", saved.id], saved);
      void queryClient.invalidateQueries({ queryKey: ["templates", ws, "list"] });
      void queryClient.invalidateQueries({ queryKey: ["templates", ws, "versions", saved.id] });
    },
  });
}

export function useDeleteTemplate() {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(
        api.DELETE("/api/v1/workspaces/{workspace_id}/templates/{template_id}", {
          params: { path: { workspace_id: ws, template_id: id } },
        }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["templates", ws, "list"] }),
  });
}

export const STARTER_MJML = `<mjml>
  <mj-body background-color="#f4f4f7">
    <mj-section background-color="#ffffff" padding="24px">
      <mj-column>
        <mj-text font-size="22px" font-weight="bold">Hello {{ contact.first_name | default("there") }}</mj-text>
        <mj-text font-size="15px" line-height="1.5">Write your message here.</mj-text>
        <mj-button href="https://example.com" background-color="#4c6ef5">Read more</mj-button>
      </mj-column>
    </mj-section>
    <mj-section padding="12px 24px">
      <mj-column>
        <mj-text font-size="12px" color="#868e96" align="center">{{ workspace.postal_address }}<br /><a href="{{ unsubscribe_url }}">Unsubscribe</a> · <a href="{{ preferences_url }}">Preferences</a></mj-text>
      </mj-column>
    </mj-section>
  </mj-body>
</mjml>
`;

export const STARTER_HTML = `<!doctype html>
<html>
  <body style="font-family: sans-serif; background: #f4f4f7; padding: 24px;">
    <h1>Hello {{ contact.first_name | default("there") }}</h1>
    <p>Write your message here.</p>
    <p><a href="https://example.com">Read more</a></p>
    <p style="font-size: 12px; color: #868e96;">{{ workspace.postal_address }}<br />
      <a href="{{ unsubscribe_url }}">Unsubscribe</a></p>
  </body>
</html>
`;
