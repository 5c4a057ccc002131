"use client";

import { Anchor, Button, Code, Group, Loader, ScrollArea, Stack, Table, Tabs, Text, TextInput, Title } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import { useWorkspaceId } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";

import { rawRequest } from "./http";
import { Pager, useCursorPager } from "./Pager";

export function OutboxList() {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  const [recipient, setRecipient] = useState("");
  const [debounced] = useDebouncedValue(recipient.trim(), 300);
  const pager = useCursorPager([debounced]);
  const messages = useQuery({
    queryKey: ["outbox", ws, debounced, pager.cursor],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/outbox", {
          params: {
            path: { workspace_id: ws },
            query: { recipient: debounced || undefined, cursor: pager.cursor ?? undefined, limit: 50 },
          },
        }),
      ),
    refetchInterval: 5000,
  });
  const clear = useMutation({
    mutationFn: async () =>
      unwrap(api.DELETE("/api/v1/workspaces/{workspace_id}/outbox", { params: { path: { workspace_id: ws } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["outbox", ws] }),
  });
  return (
    <Stack>
      <Group justify="space-between" align="flex-end" wrap="wrap">
        <TextInput
          label="Recipient"
          description="The exact address"
          placeholder="someone@example.com"
          value={recipient}
          onChange={(e) => setRecipient(e.currentTarget.value)}
          w={320}
          data-testid="outbox-recipient"
        />
        <Button
          color="red"
          variant="light"
          loading={clear.isPending}
          onClick={() => {
            if (window.confirm("Delete every message the outbox holds?")) clear.mutate();
          }}
        >
          Clear the outbox
        </Button>
      </Group>
      {clear.error && <ErrorAlert error={clear.error} />}
      {clear.data && <Text size="sm">{clear.data.deleted} messages deleted.</Text>}
      {messages.error && <ErrorAlert error={messages.error} />}
      <Table.ScrollContainer minWidth={600}>
        <Table striped highlightOnHover data-testid="outbox-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Recipient</Table.Th>
              <Table.Th>Subject</Table.Th>
              <Table.Th>Size</Table.Th>
              <Table.Th>Kept at</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(messages.data?.items ?? []).map((m) => (
              <Table.Tr key={m.id}>
                <Table.Td>{m.recipient}</Table.Td>
                <Table.Td>
                  <Anchor component={Link} href={`/outbox/view/?id=${m.id}`}>
                    {m.subject || "(no subject)"}
                  </Anchor>
                </Table.Td>
                <Table.Td>{formatBytes(m.size)}</Table.Td>
                <Table.Td>{new Date(m.created_at).toLocaleString()}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {messages.isLoading && <Loader size="sm" />}
      {messages.data && messages.data.items.length === 0 && (
        <Text c="dimmed" size="sm">
          The outbox is empty. Mail sent while the outbox transport is configured appears here.
        </Text>
      )}
      <Pager pager={pager} nextCursor={messages.data?.next_cursor ?? null} />
    </Stack>
  );
}

export function formatBytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / 1024 / 1024).toFixed(1)} MB`;
}

export function OutboxMessage({ id }: { id: string }) {
  const ws = useWorkspaceId();
  const message = useQuery({
    queryKey: ["outbox-message", ws, id],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/outbox/{message_id}", {
          params: { path: { workspace_id: ws, message_id: id } },
        }),
      ),
  });
  const [tab, setTab] = useState<string | null>("html");
  const raw = useQuery({
    queryKey: ["outbox-raw", ws, id],
    enabled: tab === "raw",
    queryFn: async () => {
      const response = await rawRequest(`/api/v1/workspaces/${ws}/outbox/${id}/raw`);
      return response.text();
    },
  });
  if (message.error) return <ErrorAlert error={message.error} />;
  if (!message.data) return <Loader size="sm" />;
  const m = message.data;
  return (
    <Stack>
      <Title order={3}>{m.subject || "(no subject)"}</Title>
      <Text size="sm">
        To <b>{m.recipient}</b> from {m.envelope_from} · {formatBytes(m.size)} · {new Date(m.created_at).toLocaleString()}
      </Text>
      <Tabs value={tab} onChange={setTab} keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="html" disabled={!m.html}>
            HTML
          </Tabs.Tab>
          <Tabs.Tab value="text" disabled={!m.text}>
            Text
          </Tabs.Tab>
          <Tabs.Tab value="headers">Headers</Tabs.Tab>
          <Tabs.Tab value="raw">Raw source</Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="html" pt="sm">
          {m.html ? (
            <iframe
              title="The message's HTML"
              sandbox=""
              srcDoc={m.html}
              data-testid="outbox-html"
              style={{ width: "100%", height: "70vh", border: "1px solid var(--mantine-color-gray-3)", background: "white" }}
            />
          ) : (
            <Text c="dimmed">This message has no HTML part.</Text>
          )}
        </Tabs.Panel>
        <Tabs.Panel value="text" pt="sm">
          <Code block>{m.text ?? ""}</Code>
        </Tabs.Panel>
        <Tabs.Panel value="headers" pt="sm">
          <Table.ScrollContainer minWidth={500}>
            <Table>
              <Table.Tbody>
                {m.headers.map((h, index) => (
                  <Table.Tr key={`${h.name}-${index}`}>
                    <Table.Th style={{ whiteSpace: "nowrap", verticalAlign: "top" }}>{h.name}</Table.Th>
                    <Table.Td style={{ wordBreak: "break-all" }}>{h.value}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        </Tabs.Panel>
        <Tabs.Panel value="raw" pt="sm">
          {raw.error && <ErrorAlert error={raw.error} />}
          {raw.isLoading && <Loader size="sm" />}
          {raw.data !== undefined && (
            <ScrollArea h="70vh">
              <Code block data-testid="outbox-raw">
                {raw.data}
              </Code>
            </ScrollArea>
          )}
        </Tabs.Panel>
      </Tabs>
    </Stack>
  );
}
