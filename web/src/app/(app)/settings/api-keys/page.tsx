"use client";
import { Badge, Button, Group, MultiSelect, Paper, ScrollArea, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { DateInput } from "@mantine/dates";
import { useForm } from "@mantine/form";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api } from "@/api/client";
import { ApiError, unwrap } from "@/api/errors";
import { useWorkspace } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { ShownOnce } from "@/components/common/ShownOnce";
import { formatDate, formatDateTime } from "@/components/common/format";

type KeyForm = { name: string; permissions: string[]; expires_at: Date | null };

export default function ApiKeysPage() {
  const { workspaceId, workspace } = useWorkspace();
  const queryClient = useQueryClient();
  const path = { workspace_id: workspaceId };
  const canWrite = workspace.role === "owner" || workspace.role === "admin";
  const keys = useQuery({
    queryKey: ["api-keys", workspaceId],
    queryFn: () => unwrap(api.GET("/api/v1/workspaces/{workspace_id}/api-keys", { params: { path, query: { limit: 200 } } })),
  });
  const permissions = useQuery({ queryKey: ["permissions"], queryFn: () => unwrap(api.GET("/api/v1/permissions")) });
  const mine = (permissions.data ?? []).filter((p) => p.roles.includes(workspace.role));

  const [secret, setSecret] = useState<string | null>(null);
  const form = useForm<KeyForm>({
    initialValues: { name: "", permissions: [], expires_at: null },
    validate: { permissions: (v) => (v.length ? null : "Choose at least one permission") },
  });
  const create = useMutation({
    mutationFn: (values: KeyForm) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/api-keys", {
          params: { path },
          body: { name: values.name, permissions: values.permissions, expires_at: values.expires_at ? new Date(values.expires_at).toISOString() : null },
        }),
      ),
    onSuccess: (created) => {
      setSecret(created.key);
      form.reset();
      void queryClient.invalidateQueries({ queryKey: ["api-keys", workspaceId] });
    },
    onError: (error) => {
      if (error instanceof ApiError) form.setErrors(error.fieldErrors());
    },
  });
  const revoke = useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE("/api/v1/workspaces/{workspace_id}/api-keys/{api_key_id}", { params: { path: { ...path, api_key_id: id } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["api-keys", workspaceId] }),
  });

  return (
    <>
      <PageHeader title="API keys" description="Keys for scripts and integrations; each holds only the permissions you give it." />
      <Stack>
        {canWrite ? (
          <Paper withBorder p="md">
            <Title order={2} size="h4" mb="sm">
              New key
            </Title>
            <form onSubmit={form.onSubmit((values) => create.mutate(values))}>
              <Stack>
                <Group align="flex-start" grow wrap="wrap">
                  <TextInput label="Name" required data-testid="api-key-name" {...form.getInputProps("name")} />
                  <DateInput label="Expires (optional)" clearable minDate={new Date()} {...form.getInputProps("expires_at")} />
                </Group>
                <MultiSelect
                  label="Permissions"
                  required
                  searchable
                  data-testid="api-key-permissions"
                  data={mine.map((p) => ({ value: p.name, label: `${p.name} — ${p.description}` }))}
                  {...form.getInputProps("permissions")}
                />
                <Button type="submit" loading={create.isPending} w="fit-content" data-testid="api-key-create">
                  Create key
                </Button>
                <ErrorAlert error={create.error} testId="api-key-error" />
              </Stack>
            </form>
            {secret ? (
              <Stack mt="sm">
                <ShownOnce title="Your new API key" value={secret} onDone={() => setSecret(null)} testId="api-key-secret" />
              </Stack>
            ) : null}
          </Paper>
        ) : null}
        <Paper withBorder p="md">
          <ErrorAlert error={keys.error} />
          <ScrollArea type="auto">
            <Table aria-label="API keys" miw={640} data-testid="api-keys-table">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Name</Table.Th>
                  <Table.Th>Key</Table.Th>
                  <Table.Th>Permissions</Table.Th>
                  <Table.Th>Last used</Table.Th>
                  <Table.Th>Expires</Table.Th>
                  <Table.Th />
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {keys.data?.items.map((key) => (
                  <Table.Tr key={key.id}>
                    <Table.Td>{key.name}</Table.Td>
                    <Table.Td>
                      <Text ff="monospace" size="sm">
                        {key.prefix}…
                      </Text>
                    </Table.Td>
                    <Table.Td>
                      <Group gap={4}>
                        {key.permissions.map((p) => (
                          <Badge key={p} size="xs" variant="light">
                            {p}
                          </Badge>
                        ))}
                      </Group>
                    </Table.Td>
                    <Table.Td>{formatDateTime(key.last_used_at)}</Table.Td>
                    <Table.Td>{key.expires_at ? formatDate(key.expires_at) : "never"}</Table.Td>
                    <Table.Td>
                      {canWrite ? (
                        <Button
                          size="xs"
                          variant="subtle"
                          color="red"
                          onClick={() => {
                            if (window.confirm(`Revoke ${key.name}? Anything using it stops working.`)) revoke.mutate(key.id);
                          }}
                        >
                          Revoke
                        </Button>
                      ) : null}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </ScrollArea>
          {keys.data && keys.data.items.length === 0 ? <Text size="sm">No API keys yet.</Text> : null}
          <ErrorAlert error={revoke.error} />
        </Paper>
      </Stack>
    </>
  );
}
