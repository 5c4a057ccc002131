"use client";
import { Button, MultiSelect, Paper, Stack, Text, TextInput, Title } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api } from "@/api/client";
import { ApiError, unwrap } from "@/api/errors";
import type { Schemas } from "@/api/types";
import { useWorkspace } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { ShownOnce } from "@/components/common/ShownOnce";
import { WebhookCard } from "@/components/settings/WebhookCard";

type EventType = Schemas["WebhookCreate"]["event_types"][number];
type HookForm = { url: string; event_types: EventType[]; description: string };

export default function WebhooksPage() {
  const { workspaceId, workspace } = useWorkspace();
  const canWrite = workspace.role === "owner" || workspace.role === "admin";
  const queryClient = useQueryClient();
  const path = { workspace_id: workspaceId };
  const hooks = useQuery({
    queryKey: ["webhooks", workspaceId],
    queryFn: () => unwrap(api.GET("/api/v1/workspaces/{workspace_id}/webhooks", { params: { path, query: { limit: 200 } } })),
  });
  const types = useQuery({
    queryKey: ["webhook-event-types", workspaceId],
    queryFn: () => unwrap(api.GET("/api/v1/workspaces/{workspace_id}/webhook-event-types", { params: { path } })),
  });
  const [secret, setSecret] = useState<string | null>(null);
  const form = useForm<HookForm>({
    initialValues: { url: "", event_types: [], description: "" },
    validate: { event_types: (v) => (v.length ? null : "Choose at least one event") },
  });
  const create = useMutation({
    mutationFn: (body: HookForm) => unwrap(api.POST("/api/v1/workspaces/{workspace_id}/webhooks", { params: { path }, body })),
    onSuccess: (created) => {
      setSecret(created.secret);
      form.reset();
      void queryClient.invalidateQueries({ queryKey: ["webhooks", workspaceId] });
    },
    onError: (error) => {
      if (error instanceof ApiError) form.setErrors(error.fieldErrors());
    },
  });

  return (
    <>
      <PageHeader title="Webhooks" description="Maily posts signed events (sends, opens, clicks, bounces, unsubscribes…) to your URLs." />
      <Stack>
        {canWrite ? (
          <Paper withBorder p="md">
            <Title order={2} size="h4" mb="sm">
              New webhook
            </Title>
            <form onSubmit={form.onSubmit((values) => create.mutate(values))}>
              <Stack>
                <TextInput label="URL" placeholder="https://example.com/maily-events" required data-testid="webhook-url" {...form.getInputProps("url")} />
                <MultiSelect
                  label="Events"
                  required
                  searchable
                  data-testid="webhook-events"
                  data={(types.data ?? []).map((t) => ({ value: t.type, label: `${t.type} — ${t.description}` }))}
                  {...form.getInputProps("event_types")}
                />
                <TextInput label="Description (optional)" {...form.getInputProps("description")} />
                <Button type="submit" loading={create.isPending} w="fit-content" data-testid="webhook-create">
                  Add webhook
                </Button>
                <ErrorAlert error={create.error ?? types.error} testId="webhook-error" />
              </Stack>
            </form>
            {secret ? (
              <Stack mt="sm">
                <ShownOnce title="Signing secret" value={secret} onDone={() => setSecret(null)} testId="webhook-secret" />
              </Stack>
            ) : null}
          </Paper>
        ) : null}
        <ErrorAlert error={hooks.error} />
        {hooks.data?.items.map((hook) => (
          <WebhookCard key={hook.id} webhook={hook} workspaceId={workspaceId} canWrite={canWrite} />
        ))}
        {hooks.data && hooks.data.items.length === 0 ? <Text>No webhooks yet.</Text> : null}
      </Stack>
    </>
  );
}
