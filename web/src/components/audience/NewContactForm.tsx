"use client";

import { Button, Group, MultiSelect, SimpleGrid, Stack, TagsInput, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useRouter } from "next/navigation";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import { useWorkspaceId } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";

import { useAllLists } from "./data";
import { applyFieldErrors } from "./http";

interface Values {
  email: string;
  first_name: string;
  last_name: string;
  tags: string[];
  list_ids: string[];
}

export function NewContactForm() {
  const ws = useWorkspaceId();
  const router = useRouter();
  const queryClient = useQueryClient();
  const lists = useAllLists();
  const form = useForm<Values>({
    initialValues: { email: "", first_name: "", last_name: "", tags: [], list_ids: [] },
    validate: { email: (v) => (v.includes("@") ? null : "Enter an email address") },
  });
  const create = useMutation({
    mutationFn: (body: Values) =>
      unwrap(api.POST("/api/v1/workspaces/{workspace_id}/contacts", { params: { path: { workspace_id: ws } }, body })),
    onSuccess: async (contact) => {
      await queryClient.invalidateQueries({ queryKey: ["contacts", ws] });
      router.push(`/contacts/view/?id=${contact.id}`);
    },
    onError: (error) => applyFieldErrors(form, error),
  });
  return (
    <form onSubmit={form.onSubmit((values) => create.mutate(values))}>
      <Stack>
        <TextInput label="Email" required data-autofocus {...form.getInputProps("email")} data-testid="new-contact-email" />
        <SimpleGrid cols={{ base: 1, xs: 2 }}>
          <TextInput label="First name" {...form.getInputProps("first_name")} />
          <TextInput label="Last name" {...form.getInputProps("last_name")} />
        </SimpleGrid>
        <TagsInput label="Tags" description="Enter to add each tag" {...form.getInputProps("tags")} />
        <MultiSelect
          label="Subscribe to lists"
          data={(lists.data ?? []).map((l) => ({ value: l.id, label: l.name }))}
          searchable
          {...form.getInputProps("list_ids")}
        />
        {create.error && !Object.keys(form.errors).length && <ErrorAlert error={create.error} />}
        <Group justify="flex-end">
          <Button type="submit" loading={create.isPending} data-testid="new-contact-save">
            Add contact
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
