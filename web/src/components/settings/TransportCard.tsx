"use client";
import { Badge, Group, Loader, Paper, Stack, Text, Title } from "@mantine/core";
import { useQuery } from "@tanstack/react-query";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import { ErrorAlert } from "@/components/common/ErrorAlert";

/** The transport mail goes out through: chosen by the operator, shown read-only. */
export function TransportCard({ workspaceId }: { workspaceId: string }) {
  const transport = useQuery({
    queryKey: ["transport", workspaceId],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspace_id}/transport", { params: { path: { workspace_id: workspaceId } } })),
  });
  const data = transport.data;
  return (
    <Paper withBorder p="md" maw={640} data-testid="transport-card">
      <Stack gap="xs">
        <Group justify="space-between">
          <Title order={3} size="h4">
            Transport
          </Title>
          {data && (
            <Badge variant="light" data-testid="transport-name">
              {data.name}
            </Badge>
          )}
        </Group>
        {transport.isPending && <Loader size="sm" aria-label="Loading the transport" />}
        <ErrorAlert error={transport.error} />
        {data && (
          <>
            <Text size="sm">{data.description}</Text>
            {data.destination && (
              <Text size="sm">
                Destination: <code data-testid="transport-destination">{data.destination}</code>
                {data.security ? ` (${data.security})` : ""}
              </Text>
            )}
            <Text size="sm" c="dimmed">
              {data.rate_per_second ? `At most ${data.rate_per_second} messages a second in all` : "No overall rate limit"}
              {data.workspace_rate_per_second ? `, ${data.workspace_rate_per_second} a second per workspace.` : "."}
            </Text>
            <Text size="sm" c="dimmed">
              Set by the operator through MAILY_TRANSPORT and its settings (see docs/transports.md); the same for every
              workspace.
            </Text>
          </>
        )}
      </Stack>
    </Paper>
  );
}
