"use client";
import { ActionIcon, Alert, Badge, Button, Group, Paper, PasswordInput, Stack, Switch, Text } from "@mantine/core";
import { IconArrowDown, IconArrowUp } from "@tabler/icons-react";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { aiProviders, type Provider } from "@/api/aiProviders";
import { ErrorAlert } from "@/components/common/ErrorAlert";

type Props = {
  provider: Provider;
  workspaceId: string;
  canManage: boolean;
  /** priorities to swap with when moved up or down; null at either end */
  above: Provider | null;
  below: Provider | null;
};

export function ProviderRow({ provider, workspaceId, canManage, above, below }: Props) {
  const queryClient = useQueryClient();
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["ai-providers", workspaceId] });
  const [newKey, setNewKey] = useState("");

  const update = useMutation({
    mutationFn: (body: Parameters<typeof aiProviders.update>[2]) => aiProviders.update(workspaceId, provider.id, body),
    onSettled: refresh,
  });
  const swap = useMutation({
    mutationFn: async (other: Provider) => {
      // Equal priorities would leave the order undecided: make them distinct.
      const mine = provider.priority === other.priority ? other.priority + (other === above ? 1 : -1) : other.priority;
      await aiProviders.update(workspaceId, other.id, { priority: provider.priority });
      await aiProviders.update(workspaceId, provider.id, { priority: Math.max(0, mine) });
    },
    onSettled: refresh,
  });
  const test = useMutation({ mutationFn: () => aiProviders.test(workspaceId, provider.id) });
  const remove = useMutation({ mutationFn: () => aiProviders.remove(workspaceId, provider.id), onSuccess: refresh });

  return (
    <Paper withBorder p="md" data-testid={`ai-provider-${provider.name}`}>
      <Stack gap="xs">
        <Group justify="space-between" wrap="wrap">
          <Group gap="xs">
            <Stack gap={0}>
              <ActionIcon variant="subtle" size="sm" aria-label={`Ask ${provider.name} earlier`} disabled={!canManage || !above} onClick={() => above && swap.mutate(above)}>
                <IconArrowUp size={14} />
              </ActionIcon>
              <ActionIcon variant="subtle" size="sm" aria-label={`Ask ${provider.name} later`} disabled={!canManage || !below} onClick={() => below && swap.mutate(below)}>
                <IconArrowDown size={14} />
              </ActionIcon>
            </Stack>
            <Stack gap={2}>
              <Group gap="xs">
                <Text fw={600}>{provider.name}</Text>
                <Badge variant="light">{provider.kind}</Badge>
                <Badge variant="outline" color="gray">
                  priority {provider.priority}
                </Badge>
              </Group>
              <Text size="sm">
                {provider.model} at <Text span ff="monospace">{provider.base_url}</Text>
              </Text>
              <Text size="xs" c="dimmed">
                Key: {provider.api_key_set ? `•••• ${provider.api_key_last4 ?? ""}` : "none"} · ${String(provider.input_price_per_mtok)} in / $
                {String(provider.output_price_per_mtok)} out per million tokens · timeout {provider.timeout_seconds} s
              </Text>
            </Stack>
          </Group>
          <Switch
            label={provider.enabled ? "Enabled" : "Disabled"}
            checked={provider.enabled}
            disabled={!canManage || update.isPending}
            onChange={(event) => update.mutate({ enabled: event.currentTarget.checked })}
          />
        </Group>
        {canManage ? (
          <Group align="flex-end" wrap="wrap">
            <Button size="xs" variant="light" onClick={() => test.mutate()} loading={test.isPending} data-testid="ai-provider-test">
              Test
            </Button>
            <PasswordInput size="xs" label="Replace the key" value={newKey} onChange={(event) => setNewKey(event.currentTarget.value)} w={220} />
            <Button
              size="xs"
              variant="subtle"
              disabled={!newKey}
              onClick={() => update.mutate({ api_key: newKey }, { onSuccess: () => setNewKey("") })}
            >
              Save key
            </Button>
            <Button
              size="xs"
              variant="subtle"
              color="red"
              onClick={() => {
                if (window.confirm(`Remove ${provider.name}?`)) remove.mutate();
              }}
            >
              Remove
            </Button>
          </Group>
        ) : null}
        {test.data ? (
          <Alert color={test.data.ok ? "teal" : "red"} title={test.data.ok ? "It answered" : "It did not answer"} data-testid="ai-provider-test-result">
            {test.data.message}
            {test.data.ok ? ` (${test.data.model ?? provider.model}, ${(test.data.input_tokens ?? 0) + (test.data.output_tokens ?? 0)} tokens)` : ""}
          </Alert>
        ) : null}
        <ErrorAlert error={test.error ?? update.error ?? swap.error ?? remove.error} />
      </Stack>
    </Paper>
  );
}
