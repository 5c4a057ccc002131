"use client";

import { Badge, Button, Group, Select, Stack, Table, TagsInput, Text, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useMutation, useQueryClient } from "@tanstack/react-query";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import type { components } from "@/api/schema";
import { useWorkspaceId } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";

import { useCustomFields } from "./data";
import { applyFieldErrors } from "./http";

type FieldCreate = components["schemas"]["CustomFieldCreate"];

const TYPES: { value: FieldCreate["type"]; label: string }[] = [
  { value: "text", label: "Text" },
  { value: "number", label: "Number" },
  { value: "date", label: "Date" },
  { value: "boolean", label: "Yes / no" },
  { value: "choice", label: "Choice" },
];

/** The workspace's custom fields: list, add, delete. */
export function CustomFieldsManager() {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  const fields = useCustomFields();
  const form = useForm<FieldCreate>({
    initialValues: { key: "", label: "", type: "text", choices: [] },
    validate: {
      key: (v) => (/^[a-z][a-z0-9_]{0,63}$/.test(v) ? null : "Lower-case letters, digits and _, starting with a letter"),
      label: (v) => (v.trim() ? null : "A field needs a label"),
      choices: (v, values) => (values.type === "choice" && (v ?? []).length === 0 ? "A choice field needs at least one choice" : null),
    },
  });
  const create = useMutation({
    mutationFn: (body: FieldCreate) =>
      unwrap(api.POST("/api/v1/workspaces/{workspace_id}/fields", { params: { path: { workspace_id: ws } }, body })),
    onSuccess: async () => {
      form.reset();
      await queryClient.invalidateQueries({ queryKey: ["fields", ws] });
    },
    onError: (error) => applyFieldErrors(form, error),
  });
  const remove = useMutation({
    mutationFn: (fieldId: string) =>
      unwrap(
        api.DELETE("/api/v1/workspaces/{workspace_id}/fields/{field_id}", {
          params: { path: { workspace_id: ws, field_id: fieldId } },
        }),
      ),
    onSuccess: () => queryClient.invalidateQueries({ queryKey: ["fields", ws] }),
  });
  return (
    <Stack>
      {fields.error && <ErrorAlert error={fields.error} />}
      {(fields.data ?? []).length === 0 ? (
        <Text size="sm" c="dimmed">
          No custom fields yet.
        </Text>
      ) : (
        <Table.ScrollContainer minWidth={420}>
          <Table>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Label</Table.Th>
                <Table.Th>Key</Table.Th>
                <Table.Th>Type</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {(fields.data ?? []).map((f) => (
                <Table.Tr key={f.id}>
                  <Table.Td>{f.label}</Table.Td>
                  <Table.Td>
                    <code>{f.key}</code>
                  </Table.Td>
                  <Table.Td>
                    {f.type}
                    {f.choices.length > 0 && (
                      <Group gap={4} mt={2}>
                        {f.choices.map((c) => (
                          <Badge key={c} size="xs" variant="outline">
                            {c}
                          </Badge>
                        ))}
                      </Group>
                    )}
                  </Table.Td>
                  <Table.Td>
                    <Button
                      size="xs"
                      variant="subtle"
                      color="red"
                      aria-label={`Delete field ${f.label}`}
                      onClick={() => {
                        if (window.confirm(`Delete the field “${f.label}” and its value on every contact?`)) remove.mutate(f.id);
                      }}
                    >
                      Delete
                    </Button>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {remove.error && <ErrorAlert error={remove.error} />}
      <form onSubmit={form.onSubmit((values) => create.mutate({ ...values, choices: values.type === "choice" ? values.choices : [] }))}>
        <Group align="flex-start" wrap="wrap">
          <TextInput label="Label" required w={180} {...form.getInputProps("label")} />
          <TextInput label="Key" required description="e.g. plan, birthday" w={160} {...form.getInputProps("key")} />
          <Select label="Type" data={TYPES} allowDeselect={false} w={130} {...form.getInputProps("type")} />
          {form.values.type === "choice" && (
            <TagsInput label="Choices" description="Enter to add each" w={220} {...form.getInputProps("choices")} />
          )}
          <Button type="submit" mt={24} loading={create.isPending}>
            Add field
          </Button>
        </Group>
        {create.error && !Object.keys(form.errors).length && (
          <Stack mt="xs">
            <ErrorAlert error={create.error} />
          </Stack>
        )}
      </form>
    </Stack>
  );
}
