"use client";
// New campaign, step by step: audience → content → settings → checks → schedule or send.
// Each "Next" saves the draft through the API, so errors appear on the step that caused them.
import {
  Alert,
  Anchor,
  Button,
  Center,
  Group,
  Loader,
  MultiSelect,
  Paper,
  Select,
  Stack,
  Stepper,
  Text,
  TextInput,
} from "@mantine/core";
import { useForm } from "@mantine/form";
import { useRouter } from "next/navigation";
import { useEffect, useState } from "react";

import { ApiError } from "@/api/errors";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { useTemplate, useTemplates } from "@/components/templates/api";

import { useCampaign, useCampaignAction, useLists, useSaveCampaign, useSegments, useSenders } from "./api";
import { ChecksStep } from "./ChecksStep";
import { ScheduleStep } from "./ScheduleStep";
import { SettingsStep } from "./SettingsStep";
import {
  EMPTY_VALUES,
  bodyFrom,
  browserZone,
  formErrors,
  hasSendTimeOptimisation,
  scheduleFrom,
  valuesFrom,
  type WizardValues,
} from "./wizard";

const STEPS = ["Audience", "Content", "Settings", "Checks", "Send"];

/** Drafts created by a wizard in this tab (their id is put in the address). */
export const createdHere = new Set<string>();

export function CampaignWizard({ id: initialId }: { id: string | null }) {
  const router = useRouter();
  const [id, setId] = useState<string | null>(initialId);
  const [step, setStep] = useState(0);
  const campaign = useCampaign(id);
  const save = useSaveCampaign();
  const action = useCampaignAction();
  const [loaded, setLoaded] = useState(!initialId);
  const [startError, setStartError] = useState<unknown>(null);

  const lists = useLists();
  const segments = useSegments();
  const senders = useSenders();
  const templates = useTemplates("template");

  const form = useForm<WizardValues>({
    initialValues: { ...EMPTY_VALUES, timezone: browserZone() },
    validate: (v) => {
      const errors: Record<string, string> = {};
      if (step >= 0) {
        if (!v.name.trim()) errors.name = "Give the campaign a name";
        if (!v.list_ids.length && !v.segment_ids.length) errors.list_ids = "Choose at least one list or segment";
      }
      if (step >= 1) {
        if (!v.template_id) errors.template_id = "Choose a template";
        if (!v.subject.trim()) errors.subject = "Write a subject line";
        if (!v.sender_id) errors.sender_id = "Choose who the campaign is from";
      }
      if (step >= 2 && v.ab_enabled) {
        v.variants.forEach((x, i) => {
          if (!x.subject.trim() && !x.template_id) errors[`variants.${i}.subject`] = "Give this variant its own subject or template";
        });
      }
      return errors;
    },
  });

  useEffect(() => {
    if (!loaded && campaign.data) {
      if (campaign.data.status !== "draft") {
        router.replace(`/campaigns/view/?id=${campaign.data.id}`);
        return;
      }
      form.setValues(valuesFrom(campaign.data));
      form.resetDirty();
      setLoaded(true);
    }
  }, [campaign.data, loaded, form, router]);

  // A template brings its subject and preheader when the campaign has none yet.
  const chosenTemplate = useTemplate(form.values.template_id);
  useEffect(() => {
    const t = chosenTemplate.data;
    if (!t) return;
    if (!form.values.subject && t.subject) form.setFieldValue("subject", t.subject);
    if (!form.values.preheader && t.preheader) form.setFieldValue("preheader", t.preheader);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- only when another template is chosen
  }, [chosenTemplate.data?.id]);

  const withSto = hasSendTimeOptimisation(campaign.data);

  const persist = async (): Promise<string | null> => {
    try {
      const saved = await save.mutateAsync({ id, body: bodyFrom(form.values, withSto) });
      if (!id) {
        createdHere.add(saved.id);
        setId(saved.id);
        window.history.replaceState(null, "", `/campaigns/new/?id=${saved.id}`);
      }
      return saved.id;
    } catch (err) {
      if (err instanceof ApiError) form.setErrors(formErrors(err.fieldErrors()));
      return null;
    }
  };

  const next = async () => {
    if (form.validate().hasErrors) return;
    if (await persist()) setStep((s) => Math.min(s + 1, STEPS.length - 1));
  };

  const send = async () => {
    setStartError(null);
    if (form.validate().hasErrors) return;
    const saved = await persist();
    if (!saved) return;
    try {
      await action.mutateAsync({ id: saved, action: "start", schedule: scheduleFrom(form.values) });
      router.push(`/campaigns/view/?id=${saved}`);
    } catch (err) {
      setStartError(err);
    }
  };

  if (initialId && !loaded) {
    return campaign.isError ? (
      <ErrorAlert error={campaign.error} title="The campaign could not be loaded" />
    ) : (
      <Center p="xl">
        <Loader aria-label="Loading the campaign" />
      </Center>
    );
  }

  const listOptions = (lists.data?.items ?? []).map((l) => ({ value: l.id, label: `${l.name} (${l.subscribed} subscribed)` }));
  const segmentOptions = (segments.data?.items ?? []).map((s) => ({ value: s.id, label: s.name }));
  const senderOptions = (senders.data?.items ?? []).map((s) => ({
    value: s.id,
    label: `${s.from_name} <${s.from_email}>${s.verified ? "" : " (domain not verified)"}`,
  }));
  const templateOptions = (templates.data?.items ?? []).map((t) => ({ value: t.id, label: `${t.name} (${t.kind.toUpperCase()})` }));

  return (
    <>
      <PageHeader title={id ? form.values.name || "Campaign draft" : "New campaign"} description="Saved as a draft at every step." />
      <Stepper
        active={step}
        onStepClick={(s) => (s < step || id ? setStep(s) : undefined)}
        allowNextStepsSelect={!!id}
        size="sm"
        wrap
        data-testid="campaign-wizard"
      >
        <Stepper.Step label="Audience" description="Who gets it">
          <Stack maw={720} mt="md">
            <TextInput label="Campaign name" required data-testid="campaign-name" {...form.getInputProps("name")} />
            <MultiSelect
              label="Lists"
              description="Subscribed contacts of these lists"
              placeholder={listOptions.length ? "Choose lists" : "No lists yet"}
              data={listOptions}
              searchable
              data-testid="campaign-lists"
              {...form.getInputProps("list_ids")}
            />
            <MultiSelect
              label="Segments"
              description="Contacts matching these segments"
              placeholder={segmentOptions.length ? "Choose segments" : "No segments yet"}
              data={segmentOptions}
              searchable
              data-testid="campaign-segments"
              {...form.getInputProps("segment_ids")}
            />
            <MultiSelect label="Leave out lists" data={listOptions} searchable {...form.getInputProps("exclude_list_ids")} />
            <MultiSelect label="Leave out segments" data={segmentOptions} searchable {...form.getInputProps("exclude_segment_ids")} />
            <ErrorAlert error={lists.error ?? segments.error} />
            <Text size="sm" c="dimmed">
              Only subscribed, unsuppressed contacts are sent to; an address on several lists gets one message. The audience is read
              when sending begins.
            </Text>
          </Stack>
        </Stepper.Step>

        <Stepper.Step label="Content" description="What they get">
          <Stack maw={720} mt="md">
            <Select
              label="Template"
              required
              searchable
              placeholder={templateOptions.length ? "Choose a template" : "No templates yet"}
              data={templateOptions}
              data-testid="campaign-template"
              {...form.getInputProps("template_id")}
            />
            {!templateOptions.length && templates.isSuccess ? (
              <Text size="sm">
                <Anchor href="/templates/edit/">Create a template</Anchor> first.
              </Text>
            ) : null}
            <TextInput label="Subject" required data-testid="campaign-subject" {...form.getInputProps("subject")} />
            <TextInput label="Preheader" description="Preview text after the subject" data-testid="campaign-preheader" {...form.getInputProps("preheader")} />
            <Select
              label="From"
              required
              placeholder={senderOptions.length ? "Choose a sender" : "No senders yet"}
              data={senderOptions}
              data-testid="campaign-sender"
              {...form.getInputProps("sender_id")}
            />
            {!senderOptions.length && senders.isSuccess ? (
              <Text size="sm">
                Add a sending domain and a sender in <Anchor href="/settings/domains/">Sending domains</Anchor>.
              </Text>
            ) : null}
            <ErrorAlert error={templates.error ?? senders.error} />
          </Stack>
        </Stepper.Step>

        <Stepper.Step label="Settings" description="Tracking, A/B test">
          <SettingsStep form={form} templateOptions={templateOptions} withSto={withSto} />
        </Stepper.Step>

        <Stepper.Step label="Checks" description="Test before sending">
          {id ? <ChecksStep campaignId={id} values={form.values} /> : null}
        </Stepper.Step>

        <Stepper.Step label="Send" description="Now or later">
          <ScheduleStep form={form} />
          <Paper withBorder p="md" mt="md" maw={720}>
            <Group>
              <Button onClick={() => void send()} loading={action.isPending || save.isPending} data-testid="campaign-send">
                {form.values.send_mode === "now" ? "Send now" : "Schedule"}
              </Button>
              <Text size="sm" c="dimmed">
                {form.values.send_mode === "now"
                  ? "Sending starts within seconds."
                  : "You can unschedule it again until it starts."}
              </Text>
            </Group>
            <StartError error={startError} />
          </Paper>
        </Stepper.Step>
      </Stepper>

      <Group mt="xl" justify="space-between" maw={720}>
        <Button variant="default" disabled={step === 0} onClick={() => setStep((s) => Math.max(0, s - 1))} data-testid="wizard-back">
          Back
        </Button>
        {step < STEPS.length - 1 ? (
          <Button onClick={() => void next()} loading={save.isPending} data-testid="wizard-next">
            Save and continue
          </Button>
        ) : null}
      </Group>
      <Stack maw={720} mt="sm">
        <ErrorAlert error={save.error} testId="campaign-save-error" />
      </Stack>
    </>
  );
}

const HINTS: Record<string, string> = {
  "unsubscribe link": "Add a link to {{ unsubscribe_url }} in the template.",
  "postal address": "Set the workspace's postal address (step Checks) and show {{ workspace.postal_address }} in the template.",
  template: "Choose a template that compiles (step Content).",
  audience: "Choose a list or segment (step Audience).",
  subject: "Write a subject (step Content).",
  sender: "Choose a sender (step Content).",
};

/** Why starting was refused: 409 campaign_not_ready lists each missing item. */
function StartError({ error }: { error: unknown }) {
  if (!error) return null;
  const missing =
    error instanceof ApiError
      ? error.details.map((d) => (d as { missing?: string }).missing).filter((m): m is string => !!m)
      : [];
  if (missing.length) {
    return (
      <Alert color="red" variant="light" mt="sm" role="alert" title="The campaign is not ready to send" data-testid="campaign-send-error">
        <ul style={{ margin: 0, paddingLeft: 18 }}>
          {missing.map((m) => (
            <li key={m}>
              <strong>{m}</strong>
              {HINTS[m] ? ` — ${HINTS[m]}` : ""}
            </li>
          ))}
        </ul>
      </Alert>
    );
  }
  return (
    <Stack mt="sm">
      <ErrorAlert error={error} testId="campaign-send-error" />
    </Stack>
  );
}
