// AI providers (GET/POST /ai/providers, GET/PATCH/DELETE /ai/providers/{id},
// POST /ai/providers/{id}/test, GET /ai/usage); see docs/ai-providers.md.
import { rawJson } from "./raw";

export type ProviderKind = "openai" | "anthropic";
type Decimal = string | number;

export type Provider = {
  id: string;
  name: string;
  kind: ProviderKind;
  base_url: string;
  model: string;
  api_key_set: boolean;
  api_key_last4: string | null;
  priority: number;
  enabled: boolean;
  input_price_per_mtok: Decimal;
  output_price_per_mtok: Decimal;
  timeout_seconds: number;
  created_at: string;
  updated_at: string;
};

export type ProviderInput = {
  name: string;
  kind: ProviderKind;
  base_url?: string | null;
  model: string;
  api_key?: string | null;
  priority?: number;
  enabled?: boolean;
  input_price_per_mtok?: Decimal;
  output_price_per_mtok?: Decimal;
  timeout_seconds?: number;
};

export type ProviderUpdate = Partial<Omit<ProviderInput, "kind">>;

export type ProviderTest = {
  ok: boolean;
  message: string;
  model: string | null;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
};

export type UsageTotals = { requests: number; input_tokens: number; output_tokens: number; cost_usd: number };
export type UsageReport = {
  start: string;
  end: string;
  total: UsageTotals;
  days: (UsageTotals & { day: string })[];
  models: (UsageTotals & { provider_id: string | null; provider_name: string; model: string })[];
};

const base = (workspaceId: string) => `/api/v1/workspaces/${workspaceId}/ai`;

export const aiProviders = {
  list: (ws: string) => rawJson<Provider[]>("GET", `${base(ws)}/providers`),
  create: (ws: string, body: ProviderInput) => rawJson<Provider>("POST", `${base(ws)}/providers`, body),
  update: (ws: string, id: string, body: ProviderUpdate) => rawJson<Provider>("PATCH", `${base(ws)}/providers/${id}`, body),
  remove: (ws: string, id: string) => rawJson<void>("DELETE", `${base(ws)}/providers/${id}`),
  test: (ws: string, id: string) => rawJson<ProviderTest>("POST", `${base(ws)}/providers/${id}/test`),
  usage: (ws: string, start: string, end: string) =>
    rawJson<UsageReport>("GET", `${base(ws)}/usage?start=${encodeURIComponent(start)}&end=${encodeURIComponent(end)}`),
};
