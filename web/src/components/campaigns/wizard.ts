// The wizard's form values and how they map to the API's campaign body.
import type { CampaignOut, CampaignUpdate, Schedule } from "./api";

export type VariantValues = { subject: string; template_id: string | null };

export type WizardValues = {
  name: string;
  list_ids: string[];
  segment_ids: string[];
  exclude_list_ids: string[];
  exclude_segment_ids: string[];
  template_id: string | null;
  subject: string;
  preheader: string;
  sender_id: string | null;
  ab_enabled: boolean;
  variants: VariantValues[];
  test_percent: number;
  metric: "opens" | "clicks";
  wait_minutes: number;
  send_time_optimisation: boolean;
  send_mode: Schedule["send_mode"];
  send_at: string; // datetime-local value, the browser's time
  local_send_at: string; // datetime-local value, each contact's time
  timezone: string;
};

export function browserZone(): string {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch {
    return "UTC";
  }
}

export const EMPTY_VALUES: WizardValues = {
  name: "",
  list_ids: [],
  segment_ids: [],
  exclude_list_ids: [],
  exclude_segment_ids: [],
  template_id: null,
  subject: "",
  preheader: "",
  sender_id: null,
  ab_enabled: false,
  variants: [
    { subject: "", template_id: null },
    { subject: "", template_id: null },
  ],
  test_percent: 20,
  metric: "opens",
  wait_minutes: 240,
  send_time_optimisation: false,
  send_mode: "now",
  send_at: "",
  local_send_at: "",
  timezone: "UTC",
};

function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Whether this API build has send-time optimisation (the field appears on campaigns). */
export function hasSendTimeOptimisation(campaign: CampaignOut | undefined): boolean {
  return !!campaign && "send_time_optimisation" in campaign;
}

export function valuesFrom(c: CampaignOut): WizardValues {
  const ab = c.ab_test;
  return {
    name: c.name,
    list_ids: c.list_ids,
    segment_ids: c.segment_ids,
    exclude_list_ids: c.exclude_list_ids,
    exclude_segment_ids: c.exclude_segment_ids,
    template_id: c.template_id,
    subject: c.subject,
    preheader: c.preheader,
    sender_id: c.sender_id,
    ab_enabled: !!ab,
    variants: ab
      ? ab.variants.map((v) => ({ subject: v.subject ?? "", template_id: v.template_id }))
      : EMPTY_VALUES.variants,
    test_percent: ab?.test_percent ?? 20,
    metric: ab?.metric ?? "opens",
    wait_minutes: ab?.wait_minutes ?? 240,
    send_time_optimisation: Boolean((c as CampaignOut & { send_time_optimisation?: boolean }).send_time_optimisation),
    send_mode: c.schedule.send_mode ?? "now",
    send_at: toLocalInput(c.schedule.send_at),
    local_send_at: c.schedule.local_send_at ? String(c.schedule.local_send_at).slice(0, 16) : "",
    timezone: c.schedule.timezone ?? "UTC",
  };
}

export function scheduleFrom(v: WizardValues): Schedule {
  if (v.send_mode === "at") {
    const at = v.send_at ? new Date(v.send_at) : null;
    return { send_mode: "at", send_at: at && !Number.isNaN(at.getTime()) ? at.toISOString() : null, timezone: v.timezone };
  }
  if (v.send_mode === "local_time") {
    return { send_mode: "local_time", local_send_at: v.local_send_at ? `${v.local_send_at}:00`.slice(0, 19) : null, timezone: v.timezone };
  }
  return { send_mode: "now", timezone: v.timezone };
}

export function bodyFrom(v: WizardValues, withSto: boolean): CampaignUpdate {
  const body: CampaignUpdate & { send_time_optimisation?: boolean } = {
    name: v.name,
    list_ids: v.list_ids,
    segment_ids: v.segment_ids,
    exclude_list_ids: v.exclude_list_ids,
    exclude_segment_ids: v.exclude_segment_ids,
    template_id: v.template_id,
    subject: v.subject,
    preheader: v.preheader,
    sender_id: v.sender_id,
    ab_test: v.ab_enabled
      ? {
          variants: v.variants.map((x) => ({ subject: x.subject.trim() || null, template_id: x.template_id })),
          test_percent: v.test_percent,
          metric: v.metric,
          wait_minutes: v.wait_minutes,
        }
      : null,
    schedule: scheduleFrom(v),
  };
  if (withSto) body.send_time_optimisation = v.send_time_optimisation;
  return body;
}

/** API field paths (ab_test.variants.0.subject, schedule.send_at) -> form paths. */
export function formErrors(fields: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, message] of Object.entries(fields)) {
    const name = key
      .replace(/^ab_test\.variants/, "variants")
      .replace(/^ab_test\./, "")
      .replace(/^schedule\./, "");
    out[name] = message;
  }
  return out;
}
