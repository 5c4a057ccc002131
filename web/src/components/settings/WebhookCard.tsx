"use client";
import { Badge, Button, Group, Paper, ScrollArea, Stack, Switch, Table, Text } from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import type { Schemas } from "@/api/types";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { ShownOnce } from "@/components/common/ShownOnce";
import { formatDateTime } from "@/components/common/format";

import { StatusBadge } from "./StatusBadge";

type Webhook = Schemas["WebhookOut"];

export function WebhookCard({ webhook, workspaceId, canWrite }: { webhook: Webhook; workspaceId: string; canWrite: boolean }) {
  const queryClient = useQueryClient();
  const path = { workspace_id: workspaceId, webhook_id: webhook.id };
  const [showDeliveries, { toggle }] = useDisclosure(false);
  const [secret, setSecret] = useState<string | null>(null);
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["webhooks", workspaceId] });
  const refreshDeliveries = () => queryClient.invalidateQueries({ queryKey: ["webhook-deliveries", webhook.id] });

  const deliveries = useQuery({
    queryKey: ["webhook-deliveries", webhook.id],
    enabled: showDeliveries,
    refetchInterval: showDeliveries ? 5000 : false,
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspace_id}/webhooks/{webhook_id}/deliveries", { params: { path, query: { limit: 20 } } })),
  });
  const toggleEnabled = useMutation({
    mutationFn: (enabled: boolean) =>
      unwrap(api.PATCH("/api/v1/workspaces/{workspace_id}/webhooks/{webhook_id}", { params: { path }, body: { enabled } })),
    onSettled: refresh,
  });
  const ping = useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/workspaces/{workspace_id}/webhooks/{webhook_id}/ping", { params: { path } })),
    onSuccess: refreshDeliveries,
  });
  const rotate = useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/workspaces/{workspace_id}/webhooks/{webhook_id}/rotate-secret", { params: { path } })),
    onSuccess: (answer) => setSecret(answer.secret),
  });
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/v1/workspaces/{workspace_id}/webhooks/{webhook_id}", { params: { path } })),
    onSuccess: refresh,
  });

  return (
    <Paper withBorder p="md" data-testid="webhook-card">
      <Stack gap="xs">
        <Group justify="space-between" wrap="wrap">
          <Stack gap={2}>
            <Text fw={600} style={{ wordBreak: "break-all" }}>
              {webhook.url}
            </Text>
            {webhook.description ? (
              <Text size="sm" c="dimmed">
                {webhook.description}
              </Text>
            ) : null}
          </Stack>
          <Switch
            label={webhook.enabled ? "Enabled" : "Disabled"}
            checked={webhook.enabled}
            disabled={!canWrite || toggleEnabled.isPending}
            onChange={(event) => toggleEnabled.mutate(event.currentTarget.checked)}
          />
        </Group>
        <Group gap={4}>
          {webhook.event_types.map((type) => (
            <Badge key={type} size="sm" variant="light">
              {type}
            </Badge>
          ))}
        </Group>
        {webhook.disabled_reason ? (
          <Text size="sm" c="red">
            Switched off {formatDateTime(webhook.disabled_at)}: {webhook.disabled_reason}
          </Text>
        ) : webhook.consecutive_failures > 0 ? (
          <Text size="sm" c="orange">
            {webhook.consecutive_failures} failed deliveries in a row
          </Text>
        ) : null}
        <Group>
          <Button size="xs" variant="light" onClick={() => ping.mutate()} loading={ping.isPending} disabled={!canWrite}>
            Send a test event
          </Button>
          <Button size="xs" variant="light" onClick={toggle}>
            {showDeliveries ? "Hide deliveries" : "Deliveries"}
          </Button>
          <Button size="xs" variant="subtle" onClick={() => rotate.mutate()} loading={rotate.isPending} disabled={!canWrite}>
            New secret
          </Button>
          <Button
            size="xs"
            variant="subtle"
            color="red"
            disabled={!canWrite}
            onClick={() => {
              if (window.confirm("Delete this webhook?")) remove.mutate();
            }}
          >
            Delete
          </Button>
        </Group>
        {ping.data ? (
          <Text size="sm">
            Test event queued ({ping.data.status}).
          </Text>
        ) : null}
        <ErrorAlert error={toggleEnabled.error ?? ping.error ?? rotate.error ?? remove.error} />
        {secret ? <ShownOnce title="The new signing secret" value={secret} onDone={() => setSecret(null)} /> : null}
        {showDeliveries ? (
          <>
            <ErrorAlert error={deliveries.error} />
            <ScrollArea type="auto">
              <Table aria-label="Recent deliveries" miw={560}>
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th>Event</Table.Th>
                    <Table.Th>Status</Table.Th>
                    <Table.Th>Attempts</Table.Th>
                    <Table.Th>Last answer</Table.Th>
                    <Table.Th>Created</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {deliveries.data?.items.map((delivery) => (
                    <Table.Tr key={delivery.id}>
                      <Table.Td>{delivery.event_type}</Table.Td>
                      <Table.Td>
                        <StatusBadge status={delivery.status} />
                      </Table.Td>
                      <Table.Td>{delivery.attempts}</Table.Td>
                      <Table.Td>{delivery.last_response_status ?? "—"}</Table.Td>
                      <Table.Td>{formatDateTime(delivery.created_at)}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </ScrollArea>
            {deliveries.data && deliveries.data.items.length === 0 ? <Text size="sm">No deliveries yet.</Text> : null}
          </>
        ) : null}
      </Stack>
    </Paper>
  );
}
