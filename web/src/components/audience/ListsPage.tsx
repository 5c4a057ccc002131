"use client";

import { Badge, Button, Group, Modal, SegmentedControl, Stack, Table, Text, TextInput, Textarea, Input } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useState } from "react";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import type { components } from "@/api/schema";
import { useWorkspaceId } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";

import { applyFieldErrors } from "./http";
import { Pager, useCursorPager } from "./Pager";

type ListWithCounts = components["schemas"]["ListWithCounts"];

interface ListValues {
  name: string;
  description: string;
  opt_in: "single" | "double";
  visibility: "public" | "private";
}

export function ListsPage() {
  const ws = useWorkspaceId();
  const pager = useCursorPager([]);
  const [editing, setEditing] = useState<ListWithCounts | "new" | null>(null);
  const lists = useQuery({
    queryKey: ["lists", ws, pager.cursor],
    queryFn: async () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/lists", {
          params: { path: { workspace_id: ws }, query: { cursor: pager.cursor ?? undefined, limit: 50 } },
        }),
      ),
  });
  return (
    <Stack>
      <PageHeader
        title="Lists"
        description="What people subscribe to. Campaigns go to lists and segments."
        actions={
          <Button onClick={() => setEditing("new")} data-testid="list-new">
            New list
          </Button>
        }
      />
      {lists.error && <ErrorAlert error={lists.error} />}
      <Table.ScrollContainer minWidth={640}>
        <Table striped highlightOnHover data-testid="lists-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>Name</Table.Th>
              <Table.Th>Opt-in</Table.Th>
              <Table.Th>Visibility</Table.Th>
              <Table.Th ta="right">Subscribed</Table.Th>
              <Table.Th ta="right">Unconfirmed</Table.Th>
              <Table.Th ta="right">Unsubscribed</Table.Th>
              <Table.Th />
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {(lists.data?.items ?? []).map((list) => (
              <Table.Tr key={list.id}>
                <Table.Td>
                  <Text fw={500}>{list.name}</Text>
                  {list.description && (
                    <Text size="xs" c="dimmed" lineClamp={1}>
                      {list.description}
                    </Text>
                  )}
                </Table.Td>
                <Table.Td>{list.opt_in === "double" ? "double" : "single"}</Table.Td>
                <Table.Td>
                  <Badge variant="light" color={list.visibility === "public" ? "green" : "gray"}>
                    {list.visibility}
                  </Badge>
                </Table.Td>
                <Table.Td ta="right">{list.subscribed}</Table.Td>
                <Table.Td ta="right">{list.unconfirmed}</Table.Td>
                <Table.Td ta="right">{list.unsubscribed}</Table.Td>
                <Table.Td>
                  <Button size="xs" variant="subtle" onClick={() => setEditing(list)} aria-label={`Edit list ${list.name}`}>
                    Edit
                  </Button>
                </Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {lists.data && lists.data.items.length === 0 && (
        <Text c="dimmed" size="sm">
          No lists yet. A list is what people subscribe to; campaigns are sent to lists and segments.
        </Text>
      )}
      <Pager pager={pager} nextCursor={lists.data?.next_cursor ?? null} />
      <Modal
        opened={editing !== null}
        onClose={() => setEditing(null)}
        title={editing === "new" ? "New list" : "Edit list"}
      >
        {editing !== null && (
          <ListForm list={editing === "new" ? null : editing} onDone={() => setEditing(null)} />
        )}
      </Modal>
    </Stack>
  );
}

function ListForm({ list, onDone }: { list: ListWithCounts | null; onDone: () => void }) {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  const form = useForm<ListValues>({
    initialValues: {
      name: list?.name ?? "",
      description: list?.description ?? "",
      opt_in: list?.opt_in === "double" ? "double" : "single",
      visibility: list?.visibility === "public" ? "public" : "private",
    },
    validate: { name: (v) => (v.trim() ? null : "A list needs a name") },
  });
  const save = useMutation({
    mutationFn: async (values: ListValues) => {
      if (list) {
        return unwrap(
          api.PATCH("/api/v1/workspaces/{workspace_id}/lists/{list_id}", {
            params: { path: { workspace_id: ws, list_id: list.id } },
            body: values,
          }),
        );
      }
      return unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/lists", {
          params: { path: { workspace_id: ws } },
          body: values,
        }),
      );
    },
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["lists", ws] });
      onDone();
    },
    onError: (error) => applyFieldErrors(form, error),
  });
  const remove = useMutation({
    mutationFn: async () => {
      if (!list) return;
      await unwrap(
        api.DELETE("/api/v1/workspaces/{workspace_id}/lists/{list_id}", {
          params: { path: { workspace_id: ws, list_id: list.id } },
        }),
      );
    },
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["lists", ws] });
      onDone();
    },
  });
  return (
    <form onSubmit={form.onSubmit((values) => save.mutate(values))}>
      <Stack>
        <TextInput label="Name" required data-autofocus data-testid="list-name" {...form.getInputProps("name")} />
        <Textarea label="Description" autosize minRows={2} {...form.getInputProps("description")} />
        <Input.Wrapper label="Opt-in" description="Double: people who sign up through a form or the API are subscribed once they follow a confirmation link">
          <SegmentedControl
            fullWidth
            aria-label="Opt-in"
            data={[
              { value: "single", label: "Single" },
              { value: "double", label: "Double" },
            ]}
            {...form.getInputProps("opt_in")}
          />
        </Input.Wrapper>
        <Input.Wrapper label="Visibility" description="Public lists are shown by name to subscribers (preference center, confirmations); private ones are not">
          <SegmentedControl
            fullWidth
            aria-label="Visibility"
            data={[
              { value: "private", label: "Private" },
              { value: "public", label: "Public" },
            ]}
            {...form.getInputProps("visibility")}
          />
        </Input.Wrapper>
        {save.error && <ErrorAlert error={save.error} />}
        <Group justify="space-between">
          {list ? (
            <Button
              color="red"
              variant="subtle"
              loading={remove.isPending}
              onClick={() => {
                if (window.confirm(`Delete the list “${list.name}”? Its contacts stay.`)) remove.mutate();
              }}
            >
              Delete list
            </Button>
          ) : (
            <span />
          )}
          <Button type="submit" loading={save.isPending} data-testid="list-save">
            {list ? "Save" : "Create list"}
          </Button>
        </Group>
        {remove.error && <ErrorAlert error={remove.error} />}
      </Stack>
    </form>
  );
}
