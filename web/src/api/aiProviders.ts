// AI providers (GET/POST /ai/providers, GET/PATCH/DELETE /ai/providers/{id},
// POST /ai/providers/{id}/test, GET /ai/usage) through the generated client; see
// docs/ai-providers.md.
import { api } from "./client";
import { unwrap } from "./errors";
import type { components } from "./schema";

type Schemas = components["schemas"];
export type Provider = Schemas["ProviderOut"];
export type ProviderKind = Provider["kind"];
export type ProviderInput = Schemas["ProviderCreate"];
export type ProviderUpdate = Schemas["ProviderUpdate"];
export type ProviderTest = Schemas["ProviderTestOut"];
export type UsageReport = Schemas["UsageReport"];

const inWorkspace = (workspace_id: string) => ({ params: { path: { workspace_id } } });
const provider = (workspace_id: string, ai_provider_id: string) => ({
  params: { path: { workspace_id, ai_provider_id } },
});

export const aiProviders = {
  list: (ws: string) => unwrap(api.GET("/api/v1/workspaces/{workspace_id}/ai/providers", inWorkspace(ws))),
  create: (ws: string, body: ProviderInput) =>
    unwrap(api.POST("/api/v1/workspaces/{workspace_id}/ai/providers", { ...inWorkspace(ws), body })),
  update: (ws: string, id: string, body: ProviderUpdate) =>
    unwrap(api.PATCH("/api/v1/workspaces/{workspace_id}/ai/providers/{ai_provider_id}", { ...provider(ws, id), body })),
  remove: (ws: string, id: string) =>
    unwrap(api.DELETE("/api/v1/workspaces/{workspace_id}/ai/providers/{ai_provider_id}", provider(ws, id))),
  test: (ws: string, id: string) =>
    unwrap(api.POST("/api/v1/workspaces/{workspace_id}/ai/providers/{ai_provider_id}/test", provider(ws, id))),
  usage: (ws: string, start: string, end: string) =>
    unwrap(
      api.GET("/api/v1/workspaces/{workspace_id}/ai/usage", {
        params: { path: { workspace_id: ws }, query: { start, end } },
      }),
    ),
};
