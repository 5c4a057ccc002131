"use client";
// Queries several audience pages share: the workspace's lists, custom fields, segments.
import { useQuery } from "@tanstack/react-query";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import { useWorkspaceId } from "@/api/workspace";

export function useAllLists() {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["lists", ws, "all"],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/lists", {
          params: { path: { workspace_id: ws }, query: { limit: 200 } },
        }),
      ),
    select: (page) => page.items,
  });
}

export function useCustomFields() {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["fields", ws],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspace_id}/fields", { params: { path: { workspace_id: ws } } })),
  });
}

export function useAllSegments() {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["segments", ws, "all"],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/segments", {
          params: { path: { workspace_id: ws }, query: { limit: 200 } },
        }),
      ),
    select: (page) => page.items,
  });
}

export function useRecentCampaigns() {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["campaigns", ws, "recent"],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/campaigns", {
          params: { path: { workspace_id: ws }, query: { limit: 200 } },
        }),
      ),
    select: (page) => page.items,
  });
}
