"use client";
import { useQuery } from "@tanstack/react-query";

import { API_BASE, authedFetch } from "@/api/client";
import { api } from "@/api/client";
import { toApiError, unwrap } from "@/api/errors";
import type { Schemas } from "@/api/types";
import { useWorkspaceId } from "@/api/workspace";

export type CampaignReport = Schemas["CampaignReport"];
export type Counts = Schemas["Counts"];
export type Rates = Schemas["Rates"];
export type Bucket = "auto" | "hour" | "day";
// The report routes also answer CSV, so the generated types leave the JSON body open.
type LinkReport = Schemas["LinkReport"];
type DomainReport = Schemas["DomainReport"];
type TimelineReport = Schemas["TimelineReport"];

export function useCampaignReport(id: string) {
  const ws = useWorkspaceId();
  const params = { path: { workspace_id: ws, campaign_id: id } };
  const figures = useQuery({
    queryKey: ["reports", ws, id, "figures"],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspace_id}/reports/campaigns/{campaign_id}", { params })) as Promise<CampaignReport>,
  });
  const links = useQuery({
    queryKey: ["reports", ws, id, "links"],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspace_id}/reports/campaigns/{campaign_id}/links", { params })) as Promise<LinkReport>,
  });
  const domains = useQuery({
    queryKey: ["reports", ws, id, "domains"],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/reports/campaigns/{campaign_id}/domains", {
          params: { ...params, query: { limit: 50 } },
        }),
      ) as Promise<DomainReport>,
  });
  return { figures, links, domains };
}

export function useTimeline(id: string, bucket: Bucket) {
  const ws = useWorkspaceId();
  return useQuery({
    queryKey: ["reports", ws, id, "timeline", bucket],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/reports/campaigns/{campaign_id}/timeline", {
          params: { path: { workspace_id: ws, campaign_id: id }, query: { bucket } },
        }),
      ) as Promise<TimelineReport>,
  });
}

/** Fetch a CSV report with the session and hand it to the browser as a download. */
export async function downloadCsv(path: string, filename: string): Promise<void> {
  const sep = path.includes("?") ? "&" : "?";
  const response = await authedFetch(new Request(`${API_BASE}${path}${sep}format=csv`, { headers: { Accept: "text/csv" } }));
  if (!response.ok) {
    let body: unknown = null;
    try {
      body = await response.json();
    } catch {
      body = null;
    }
    throw toApiError(response.status, body);
  }
  const url = URL.createObjectURL(await response.blob());
  const a = document.createElement("a");
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function pct(rate: number | null | undefined): string {
  return rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)}%`;
}
