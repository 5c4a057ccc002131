"use client";
// Campaigns through the API, and what the wizard picks from (lists, segments, senders).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import type { Schemas } from "@/api/types";
import { useWorkspaceId } from "@/api/workspace";

export type CampaignOut = Schemas["CampaignOut"];
export type CampaignStatus = CampaignOut["status"];
export type CampaignCreate = Schemas["CampaignCreate"];
export type CampaignUpdate = Schemas["CampaignUpdate"];
export type ProgressOut = Schemas["ProgressOut"];
export type Schedule = Schemas["Schedule"];
export type ABTestIn = Schemas["ABTestIn"];
export type TestSendOut = Schemas["TestSendOut"];

export const STATUS_COLORS: Record<string, string> = {
  draft: "gray",
  scheduled: "blue",
  sending: "indigo",
  paused: "yellow",
  sent: "green",
  cancelled: "dark",
  failed: "red",
};

export function useCampaigns(status?: CampaignStatus) {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["campaigns", ws, "list", status ?? "all"],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/campaigns", {
          params: { path: { workspace_id: ws }, query: { limit: 200, status } },
        }),
      ),
  });
}

export function useCampaign(id: string | null) {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["campaigns", ws, "one", id],
    enabled: !!id,
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/campaigns/{campaign_id}", {
          params: { path: { workspace_id: ws, campaign_id: id as string } },
        }),
      ),
  });
}

export function useProgress(id: string | null, poll: boolean) {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["campaigns", ws, "progress", id],
    enabled: !!id,
    // The live feed triggers refetches; a slow poll covers a dropped socket.
    refetchInterval: poll ? 15_000 : false,
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/campaigns/{campaign_id}/progress", {
          params: { path: { workspace_id: ws, campaign_id: id as string } },
        }),
      ),
  });
}

export function useSaveCampaign() {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ id, body }: { id: string | null; body: CampaignUpdate }): Promise<CampaignOut> =>
      id
        ? unwrap(
            api.PATCH("/api/v1/workspaces/{workspace_id}/campaigns/{campaign_id}", {
              params: { path: { workspace_id: ws, campaign_id: id } },
              body,
            }),
          )
        : unwrap(
            api.POST("/api/v1/workspaces/{workspace_id}/campaigns", {
              params: { path: { workspace_id: ws } },
              body: body as CampaignCreate,
            }),
          ),
    onSuccess: (saved) => {
      queryClient.setQueryData(["campaigns", ws, "one", saved.id], saved);
      void queryClient.invalidateQueries({ queryKey: ["campaigns", ws, "list"] });
    },
  });
}

type Action = "start" | "pause" | "resume" | "cancel" | "unschedule" | "duplicate";

export function useCampaignAction() {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: async ({ id, action, schedule }: { id: string; action: Action; schedule?: Schedule }): Promise<CampaignOut> => {
      const params = { path: { workspace_id: ws, campaign_id: id } };
      switch (action) {
        case "start":
          return unwrap(
            api.POST("/api/v1/workspaces/{workspace_id}/campaigns/{campaign_id}/start", {
              params,
              body: schedule ? { schedule } : {},
            }),
          );
        case "pause":
          return unwrap(api.POST("/api/v1/workspaces/{workspace_id}/campaigns/{campaign_id}/pause", { params }));
        case "resume":
          return unwrap(api.POST("/api/v1/workspaces/{workspace_id}/campaigns/{campaign_id}/resume", { params }));
        case "cancel":
          return unwrap(api.POST("/api/v1/workspaces/{workspace_id}/campaigns/{campaign_id}/cancel", { params }));
        case "unschedule":
          return unwrap(api.POST("/api/v1/workspaces/{workspace_id}/campaigns/{campaign_id}/unschedule", { params }));
        case "duplicate":
          return unwrap(api.POST("/api/v1/workspaces/{workspace_id}/campaigns/{campaign_id}/duplicate", { params }));
      }
    },
    onSuccess: (saved) => {
      queryClient.setQueryData(["campaigns", ws, "one", saved.id], saved);
      void queryClient.invalidateQueries({ queryKey: ["campaigns", ws, "list"] });
      void queryClient.invalidateQueries({ queryKey: ["campaigns", ws, "progress", saved.id] });
    },
  });
}

export function useDeleteCampaign() {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      unwrap(
        api.DELETE("/api/v1/workspaces/{workspace_id}/campaigns/{campaign_id}", {
          params: { path: { workspace_id: ws, campaign_id: id } },
        }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["campaigns", ws, "list"] }),
  });
}

export function useChooseWinner() {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: ({ id, variant }: { id: string; variant: string }) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/campaigns/{campaign_id}/ab-winner", {
          params: { path: { workspace_id: ws, campaign_id: id } },
          body: { variant },
        }),
      ),
    onSuccess: (saved) => {
      queryClient.setQueryData(["campaigns", ws, "one", saved.id], saved);
      void queryClient.invalidateQueries({ queryKey: ["campaigns", ws, "progress", saved.id] });
    },
  });
}

export function useTestSend() {
  const ws = useWorkspaceId();
  return useMutation({
    mutationFn: ({ id, emails, variant }: { id: string; emails: string[]; variant?: string }) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/campaigns/{campaign_id}/test-send", {
          params: { path: { workspace_id: ws, campaign_id: id } },
          body: { emails, variant: variant ?? undefined },
        }),
      ),
  });
}

export function useLists() {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["lists", ws, "picker"],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspace_id}/lists", { params: { path: { workspace_id: ws }, query: { limit: 200 } } })),
  });
}

export function useSegments() {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["segments", ws, "picker"],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspace_id}/segments", { params: { path: { workspace_id: ws }, query: { limit: 200 } } })),
  });
}

export function useSenders() {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["senders", ws, "picker"],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspace_id}/senders", { params: { path: { workspace_id: ws }, query: { limit: 200 } } })),
  });
}

export function useWorkspaceDetails() {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["workspace", ws],
    queryFn: () => unwrap(api.GET("/api/v1/workspaces/{workspace_id}", { params: { path: { workspace_id: ws } } })),
  });
}

export function useSavePostalAddress() {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (postal_address: string) =>
      unwrap(api.PATCH("/api/v1/workspaces/{workspace_id}", { params: { path: { workspace_id: ws } }, body: { postal_address } })),
    onSuccess: (saved) => queryClient.setQueryData(["workspace", ws], saved),
  });
}

// -- the content check (POST /content-check: compliance + SpamAssassin) ------------

export type CheckFinding = { check: string; severity: "error" | "warning"; message: string; where?: string };
export type SpamReport = { score: number; threshold: number; is_spam: boolean; rules: { name: string; score: number; description?: string }[] };
export type CheckReport = { passed: boolean; findings: CheckFinding[]; spam: SpamReport | null };

export function useContentCheck() {
  const ws = useWorkspaceId();
  return useMutation({
    mutationFn: (body: { subject: string; preheader?: string; template_id?: string; mjml?: string }) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/content-check", {
          params: { path: { workspace_id: ws } },
          body,
        }),
      ),
  });
}
