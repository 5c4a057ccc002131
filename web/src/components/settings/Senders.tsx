"use client";
import { Button, Group, Paper, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api } from "@/api/client";
import { ApiError, unwrap } from "@/api/errors";
import { ErrorAlert } from "@/components/common/ErrorAlert";

import { StatusBadge } from "./StatusBadge";

/** The From addresses campaigns send as, each on one of the sending domains. */
export function Senders({ workspaceId, canWrite }: { workspaceId: string; canWrite: boolean }) {
  const queryClient = useQueryClient();
  const senders = useQuery({
    queryKey: ["senders", workspaceId],
    queryFn: () => unwrap(api.GET("/api/v1/workspaces/{workspace_id}/senders", { params: { path: { workspace_id: workspaceId }, query: { limit: 200 } } })),
  });
  const form = useForm({ initialValues: { from_name: "", from_email: "", reply_to: "" } });
  const create = useMutation({
    mutationFn: (values: { from_name: string; from_email: string; reply_to: string }) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/senders", {
          params: { path: { workspace_id: workspaceId } },
          body: { from_name: values.from_name, from_email: values.from_email, reply_to: values.reply_to || null },
        }),
      ),
    onSuccess: () => {
      form.reset();
      void queryClient.invalidateQueries({ queryKey: ["senders", workspaceId] });
    },
    onError: (error) => {
      if (error instanceof ApiError) form.setErrors(error.fieldErrors());
    },
  });
  const remove = useMutation({
    mutationFn: (id: string) =>
      unwrap(api.DELETE("/api/v1/workspaces/{workspace_id}/senders/{sender_id}", { params: { path: { workspace_id: workspaceId, sender_id: id } } })),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["senders", workspaceId] }),
  });

  return (
    <Paper withBorder p="md">
      <Stack>
        <Title order={2} size="h4">
          Senders
        </Title>
        <Text size="sm" c="dimmed">
          The From address of a campaign; its domain must be one of the sending domains above.
        </Text>
        <ErrorAlert error={senders.error} />
        {senders.data && senders.data.items.length > 0 ? (
          <Table aria-label="Senders" data-testid="senders-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>From</Table.Th>
                <Table.Th>Reply-To</Table.Th>
                <Table.Th>Domain</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {senders.data.items.map((sender) => (
                <Table.Tr key={sender.id}>
                  <Table.Td>
                    {sender.from_name ? `${sender.from_name} <${sender.from_email}>` : sender.from_email}
                  </Table.Td>
                  <Table.Td>{sender.reply_to ?? "—"}</Table.Td>
                  <Table.Td>
                    <StatusBadge status={sender.verified ? "verified" : "pending"} /> {sender.domain}
                  </Table.Td>
                  <Table.Td>
                    <Button size="xs" variant="subtle" color="red" disabled={!canWrite} onClick={() => remove.mutate(sender.id)}>
                      Remove
                    </Button>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        ) : senders.data ? (
          <Text size="sm">No senders yet.</Text>
        ) : null}
        <ErrorAlert error={remove.error} />
        <form onSubmit={form.onSubmit((values) => create.mutate(values))}>
          <Group align="flex-end" wrap="wrap">
            <TextInput label="From name" data-testid="sender-name" {...form.getInputProps("from_name")} />
            <TextInput label="From address" required type="email" data-testid="sender-email" {...form.getInputProps("from_email")} />
            <TextInput label="Reply-To (optional)" type="email" {...form.getInputProps("reply_to")} />
            <Button type="submit" loading={create.isPending} disabled={!canWrite} data-testid="sender-add">
              Add sender
            </Button>
          </Group>
        </form>
        <ErrorAlert error={create.error} testId="sender-error" />
      </Stack>
    </Paper>
  );
}
