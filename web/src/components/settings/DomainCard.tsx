"use client";
import { Button, Code, CopyButton, Group, Paper, ScrollArea, Stack, Table, Text, Title, ActionIcon, Tooltip } from "@mantine/core";
import { IconCheck, IconCopy } from "@tabler/icons-react";
import { useMutation, useQueryClient } from "@tanstack/react-query";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import type { Schemas } from "@/api/types";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { formatDateTime } from "@/components/common/format";

import { StatusBadge } from "./StatusBadge";

type Domain = Schemas["SendingDomainOut"];

function Copy({ value, label }: { value: string; label: string }) {
  return (
    <CopyButton value={value}>
      {({ copied, copy }) => (
        <Tooltip label={copied ? "Copied" : label}>
          <ActionIcon variant="subtle" onClick={copy} aria-label={label}>
            {copied ? <IconCheck size={16} /> : <IconCopy size={16} />}
          </ActionIcon>
        </Tooltip>
      )}
    </CopyButton>
  );
}

export function DomainCard({ domain, workspaceId, canWrite }: { domain: Domain; workspaceId: string; canWrite: boolean }) {
  const queryClient = useQueryClient();
  const path = { workspace_id: workspaceId, sending_domain_id: domain.id };
  const refresh = () => queryClient.invalidateQueries({ queryKey: ["sending-domains", workspaceId] });
  const verify = useMutation({
    mutationFn: () => unwrap(api.POST("/api/v1/workspaces/{workspace_id}/sending-domains/{sending_domain_id}/verify", { params: { path } })),
    onSuccess: refresh,
  });
  const remove = useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/v1/workspaces/{workspace_id}/sending-domains/{sending_domain_id}", { params: { path } })),
    onSuccess: refresh,
  });

  return (
    <Paper withBorder p="md" data-testid={`domain-${domain.domain}`}>
      <Stack>
        <Group justify="space-between">
          <Group>
            <Title order={2} size="h4">
              {domain.domain}
            </Title>
            <StatusBadge status={domain.verified ? "verified" : "pending"} testId="domain-status" />
          </Group>
          <Group>
            <Button size="xs" onClick={() => verify.mutate()} loading={verify.isPending} disabled={!canWrite} data-testid="domain-verify">
              Check DNS now
            </Button>
            <Button
              size="xs"
              color="red"
              variant="subtle"
              disabled={!canWrite}
              loading={remove.isPending}
              onClick={() => {
                if (window.confirm(`Remove ${domain.domain}?`)) remove.mutate();
              }}
            >
              Remove
            </Button>
          </Group>
        </Group>
        <Text size="sm" c="dimmed">
          Publish these records at your DNS provider, then check. DKIM selector <Code>{domain.dkim_selector}</Code> ({domain.dkim_algorithm}); bounces return to{" "}
          <Code>{domain.return_path_domain}</Code>. Last checked {formatDateTime(domain.checked_at)}.
        </Text>
        <ScrollArea type="auto">
          <Table striped withTableBorder miw={720} aria-label={`DNS records of ${domain.domain}`}>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Purpose</Table.Th>
                <Table.Th>Type</Table.Th>
                <Table.Th>Name</Table.Th>
                <Table.Th>Value</Table.Th>
                <Table.Th>Status</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {domain.records.map((record) => (
                <Table.Tr key={`${record.purpose}-${record.name}`}>
                  <Table.Td>{record.purpose}</Table.Td>
                  <Table.Td>
                    {record.type}
                    {record.priority != null ? ` ${record.priority}` : ""}
                  </Table.Td>
                  <Table.Td>
                    <Group gap={4} wrap="nowrap">
                      <Code>{record.name}</Code>
                      <Copy value={record.name} label="Copy name" />
                    </Group>
                  </Table.Td>
                  <Table.Td maw={360}>
                    <Group gap={4} wrap="nowrap" align="flex-start">
                      <Code style={{ wordBreak: "break-all" }}>{record.value}</Code>
                      <Copy value={record.value} label="Copy value" />
                    </Group>
                  </Table.Td>
                  <Table.Td>
                    <StatusBadge status={record.status} />
                    {record.detail ? (
                      <Text size="xs" c="dimmed">
                        {record.detail}
                      </Text>
                    ) : null}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </ScrollArea>
        <Group gap="xs">
          <Text size="sm">Zone file lines:</Text>
          <Copy value={domain.zone_file} label="Copy zone file" />
        </Group>
        <ErrorAlert error={verify.error ?? remove.error} />
      </Stack>
    </Paper>
  );
}
