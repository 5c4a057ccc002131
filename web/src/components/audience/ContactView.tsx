"use client";

import {
  Anchor,
  Badge,
  Button,
  Group,
  Loader,
  NumberInput,
  Paper,
  Select,
  SimpleGrid,
  Stack,
  Table,
  TagsInput,
  Text,
  TextInput,
  Timeline,
  Title,
} from "@mantine/core";
import { useForm } from "@mantine/form";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useState } from "react";

import { api } from "@/api/client";
import { ApiError, unwrap } from "@/api/errors";
import type { components } from "@/api/schema";
import { useWorkspaceId } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";

import { STATUS_COLORS } from "./ContactsTable";
import { useAllLists, useCustomFields } from "./data";
import { applyFieldErrors } from "./http";

type ContactDetail = components["schemas"]["ContactDetail"];
type CustomField = components["schemas"]["CustomFieldOut"];
type ActivityPage = components["schemas"]["ActivityPage"];

function when(value: string | null | undefined): string {
  return value ? new Date(value).toLocaleString() : "never";
}

export function ContactView({ id }: { id: string }) {
  const ws = useWorkspaceId();
  const contact = useQuery({
    queryKey: ["contacts", ws, "one", id],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/contacts/{contact_id}", {
          params: { path: { workspace_id: ws, contact_id: id } },
        }),
      ),
  });
  if (contact.error) return <ErrorAlert error={contact.error} />;
  if (!contact.data) return <Loader size="sm" />;
  const c = contact.data;
  return (
    <Stack>
      <Group justify="space-between" wrap="wrap">
        <Stack gap={2}>
          <Title order={1} size="h2" data-testid="contact-email">
            {c.email}
          </Title>
          <Group gap="xs">
            <Badge color={STATUS_COLORS[c.status] ?? "gray"} variant="light">
              {c.status}
            </Badge>
            {c.suppressed && (
              <Badge color="red" variant="outline">
                suppressed
              </Badge>
            )}
            <Text size="sm" c="dimmed">
              added {new Date(c.created_at).toLocaleDateString()} from {c.source}
            </Text>
          </Group>
        </Stack>
        <Anchor component={Link} href="/contacts/">
          All contacts
        </Anchor>
      </Group>
      <SimpleGrid cols={{ base: 1, sm: 3 }}>
        <Figure label="Sent" value={c.sends_count} detail={`last ${when(c.last_sent_at)}`} />
        <Figure label="Opens" value={c.opens_count} detail={`last ${when(c.last_open_at)}`} />
        <Figure label="Clicks" value={c.clicks_count} detail={`last ${when(c.last_click_at)}`} />
      </SimpleGrid>
      <SimpleGrid cols={{ base: 1, md: 2 }} spacing="lg">
        <Stack>
          <ProfileForm contact={c} />
          <CustomFieldsForm contact={c} />
          <Memberships contact={c} />
          <Danger contact={c} />
        </Stack>
        <Stack>
          <ActivityTimeline id={c.id} />
          <Consents id={c.id} />
        </Stack>
      </SimpleGrid>
    </Stack>
  );
}

function Figure({ label, value, detail }: { label: string; value: number; detail: string }) {
  return (
    <Paper withBorder p="sm">
      <Text size="xs" c="dimmed" tt="uppercase">
        {label}
      </Text>
      <Text size="xl" fw={600}>
        {value}
      </Text>
      <Text size="xs" c="dimmed">
        {detail}
      </Text>
    </Paper>
  );
}

function useSaveContact(id: string) {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: components["schemas"]["ContactUpdate"]) =>
      unwrap(
        api.PATCH("/api/v1/workspaces/{workspace_id}/contacts/{contact_id}", {
          params: { path: { workspace_id: ws, contact_id: id } },
          body,
        }),
      ),
    onSuccess: (data) => {
      queryClient.setQueryData(["contacts", ws, "one", id], data);
      void queryClient.invalidateQueries({ queryKey: ["contacts", ws], predicate: (q) => q.queryKey[2] !== "one" });
    },
  });
}

interface ProfileValues {
  email: string;
  first_name: string;
  last_name: string;
  timezone: string;
  locale: string;
  tags: string[];
}

function profileValues(contact: ContactDetail): ProfileValues {
  return {
    email: contact.email,
    first_name: contact.first_name,
    last_name: contact.last_name,
    timezone: contact.timezone ?? "",
    locale: contact.locale ?? "",
    tags: contact.tags,
  };
}

function ProfileForm({ contact }: { contact: ContactDetail }) {
  const save = useSaveContact(contact.id);
  const [saved, setSaved] = useState(false);
  const form = useForm<ProfileValues>({
    initialValues: profileValues(contact),
    validate: {
      email: (v) => (v.includes("@") ? null : "Enter an email address"),
      // The API's pattern, said in words before it answers with the pattern itself.
      locale: (v) =>
        !v.trim() || /^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$/.test(v.trim())
          ? null
          : "Use a language tag such as en or pt-BR",
    },
  });
  const submit = (values: ProfileValues) => {
    setSaved(false);
    save.mutate(
      {
        email: values.email,
        first_name: values.first_name,
        last_name: values.last_name,
        timezone: values.timezone.trim() || null,
        locale: values.locale.trim() || null,
        tags: values.tags,
      },
      {
        onSuccess: (data) => {
          // What the API stored (trimmed, lower-cased address) becomes the form's start.
          const stored = profileValues(data);
          form.setValues(stored);
          form.resetDirty(stored);
          setSaved(true);
        },
        onError: (error) => {
          if (applyFieldErrors(form, error)) return;
          // A 409 here is the address: another contact has it.
          if (error instanceof ApiError && error.status === 409) form.setFieldError("email", error.message);
        },
      },
    );
  };
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="profile-title">
      <form onSubmit={form.onSubmit(submit)}>
        <Stack gap="sm">
          <Title order={2} size="h4" id="profile-title">
            Profile
          </Title>
          <TextInput label="Email" required {...form.getInputProps("email")} data-testid="contact-edit-email" />
          <SimpleGrid cols={{ base: 1, xs: 2 }}>
            <TextInput label="First name" {...form.getInputProps("first_name")} />
            <TextInput label="Last name" {...form.getInputProps("last_name")} />
            <TextInput label="Time zone" placeholder="Europe/Oslo" description="IANA name" {...form.getInputProps("timezone")} />
            <TextInput label="Locale" placeholder="en or pt-BR" description="Language tag" {...form.getInputProps("locale")} />
          </SimpleGrid>
          <TagsInput label="Tags" description="Enter to add each tag" {...form.getInputProps("tags")} />
          {save.error && Object.keys(form.errors).length === 0 && <ErrorAlert error={save.error} />}
          <Group>
            <Button type="submit" loading={save.isPending} data-testid="contact-save">
              Save profile
            </Button>
            {saved && (
              <Text size="sm" c="green" role="status">
                Saved.
              </Text>
            )}
          </Group>
        </Stack>
      </form>
    </Paper>
  );
}

function fieldText(value: unknown): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  return String(value);
}

function CustomFieldsForm({ contact }: { contact: ContactDetail }) {
  const fields = useCustomFields();
  const save = useSaveContact(contact.id);
  const [saved, setSaved] = useState(false);
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(Object.entries(contact.fields).map(([k, v]) => [k, fieldText(v)])),
  );
  const [errors, setErrors] = useState<Record<string, string>>({});
  const defined = fields.data ?? [];
  const extra = Object.keys(contact.fields).filter((k) => !defined.some((f) => f.key === k));

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    setSaved(false);
    setErrors({});
    const body: Record<string, unknown> = {};
    for (const field of defined) {
      const text = (values[field.key] ?? "").trim();
      const before = fieldText(contact.fields[field.key]);
      if (text === before) continue;
      body[field.key] = text === "" ? null : typed(field, text);
    }
    if (Object.keys(body).length === 0) {
      setSaved(true);
      return;
    }
    save.mutate(
      { fields: body },
      {
        onSuccess: (data) => {
          setValues(Object.fromEntries(Object.entries(data.fields).map(([k, v]) => [k, fieldText(v)])));
          setSaved(true);
        },
        onError: (error) => {
          if (error instanceof ApiError) {
            const found: Record<string, string> = {};
            for (const [name, message] of Object.entries(error.fieldErrors())) {
              if (name.startsWith("fields.")) found[name.slice(7)] = message;
            }
            setErrors(found);
          }
        },
      },
    );
  };

  return (
    <Paper withBorder p="md" component="section" aria-labelledby="fields-title">
      <form onSubmit={submit}>
        <Stack gap="sm">
          <Title order={2} size="h4" id="fields-title">
            Custom fields
          </Title>
          {fields.error && <ErrorAlert error={fields.error} />}
          {defined.length === 0 && (
            <Text size="sm" c="dimmed">
              The workspace has no custom fields yet. Add them on the Contacts page (Custom fields).
            </Text>
          )}
          <SimpleGrid cols={{ base: 1, xs: 2 }}>
            {defined.map((field) => (
              <FieldInput
                key={field.key}
                field={field}
                value={values[field.key] ?? ""}
                error={errors[field.key]}
                onChange={(text) => setValues((v) => ({ ...v, [field.key]: text }))}
              />
            ))}
          </SimpleGrid>
          {extra.length > 0 && (
            <Text size="xs" c="dimmed">
              Also stored: {extra.map((k) => `${k} = ${fieldText(contact.fields[k])}`).join(", ")}
            </Text>
          )}
          {save.error && Object.keys(errors).length === 0 && <ErrorAlert error={save.error} />}
          {defined.length > 0 && (
            <Group>
              <Button type="submit" loading={save.isPending} variant="light">
                Save fields
              </Button>
              {saved && (
                <Text size="sm" c="green" role="status">
                  Saved.
                </Text>
              )}
            </Group>
          )}
        </Stack>
      </form>
    </Paper>
  );
}

function typed(field: CustomField, text: string): unknown {
  if (field.type === "number") {
    const number = Number(text.replace(",", "."));
    return Number.isFinite(number) ? number : text;
  }
  if (field.type === "boolean") return text === "true" ? true : text === "false" ? false : text;
  return text;
}

function FieldInput({
  field,
  value,
  error,
  onChange,
}: {
  field: CustomField;
  value: string;
  error: string | undefined;
  onChange: (text: string) => void;
}) {
  const common = { label: field.label, description: field.key, error };
  if (field.type === "choice") {
    return <Select {...common} data={field.choices} value={value || null} clearable onChange={(v) => onChange(v ?? "")} />;
  }
  if (field.type === "boolean") {
    return (
      <Select
        {...common}
        data={[
          { value: "true", label: "yes" },
          { value: "false", label: "no" },
        ]}
        value={value || null}
        clearable
        onChange={(v) => onChange(v ?? "")}
      />
    );
  }
  if (field.type === "number") {
    return <NumberInput {...common} value={value} onChange={(v) => onChange(String(v))} />;
  }
  if (field.type === "date") {
    return <TextInput {...common} type="date" value={value} onChange={(e) => onChange(e.currentTarget.value)} />;
  }
  return <TextInput {...common} value={value} onChange={(e) => onChange(e.currentTarget.value)} />;
}

function useBulk(contactId: string) {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (body: Omit<components["schemas"]["BulkAction"], "selection">) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/contacts/bulk", {
          params: { path: { workspace_id: ws } },
          body: { ...body, selection: { contact_ids: [contactId] } },
        }),
      ),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["contacts", ws] });
      await queryClient.invalidateQueries({ queryKey: ["consents", ws, contactId] });
      await queryClient.invalidateQueries({ queryKey: ["lists", ws] });
    },
  });
}

function Memberships({ contact }: { contact: ContactDetail }) {
  const lists = useAllLists();
  const bulk = useBulk(contact.id);
  const [listId, setListId] = useState<string | null>(null);
  const name = (id: string) => lists.data?.find((l) => l.id === id)?.name ?? id;
  const memberOf = new Set(contact.lists.map((m) => m.list_id));
  const addable = (lists.data ?? []).filter((l) => !memberOf.has(l.id) || contact.lists.some((m) => m.list_id === l.id && m.status !== "subscribed"));
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="lists-title">
      <Stack gap="sm">
        <Title order={2} size="h4" id="lists-title">
          Lists
        </Title>
        {contact.lists.length === 0 ? (
          <Text size="sm" c="dimmed">
            Not on any list.
          </Text>
        ) : (
          <Table>
            <Table.Thead>
              <Table.Tr>
                <Table.Th>List</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>Since</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {contact.lists.map((m) => (
                <Table.Tr key={m.list_id}>
                  <Table.Td>{name(m.list_id)}</Table.Td>
                  <Table.Td>{m.status}</Table.Td>
                  <Table.Td>{new Date(m.updated_at).toLocaleDateString()}</Table.Td>
                  <Table.Td>
                    {m.status !== "unsubscribed" && (
                      <Button
                        size="xs"
                        variant="subtle"
                        color="red"
                        aria-label={`Remove from ${name(m.list_id)}`}
                        onClick={() => bulk.mutate({ action: "remove_from_list", list_id: m.list_id })}
                      >
                        Remove
                      </Button>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        )}
        <Group align="flex-end">
          <Select
            label="Add to list"
            placeholder="Choose a list"
            data={addable.map((l) => ({ value: l.id, label: l.name }))}
            value={listId}
            onChange={setListId}
            searchable
            w={240}
          />
          <Button
            variant="light"
            disabled={!listId}
            loading={bulk.isPending}
            onClick={() => listId && bulk.mutate({ action: "add_to_list", list_id: listId }, { onSuccess: () => setListId(null) })}
          >
            Add
          </Button>
        </Group>
        {bulk.error && <ErrorAlert error={bulk.error} />}
        {bulk.data && bulk.data.affected === 0 && (
          <Text size="sm" c="dimmed" role="status">
            Nothing changed: the contact could not be subscribed (unsubscribed or suppressed) or was not a member.
          </Text>
        )}
      </Stack>
    </Paper>
  );
}

function Danger({ contact }: { contact: ContactDetail }) {
  const ws = useWorkspaceId();
  const router = useRouter();
  const queryClient = useQueryClient();
  const bulk = useBulk(contact.id);
  const remove = useMutation({
    mutationFn: () =>
      unwrap(
        api.DELETE("/api/v1/workspaces/{workspace_id}/contacts/{contact_id}", {
          params: { path: { workspace_id: ws, contact_id: contact.id } },
        }),
      ),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["contacts", ws] });
      router.push("/contacts/");
    },
  });
  return (
    <Paper withBorder p="md" component="section" aria-label="Unsubscribe or delete">
      <Group>
        <Button
          variant="default"
          disabled={contact.status === "unsubscribed"}
          loading={bulk.isPending}
          onClick={() => {
            if (window.confirm(`Unsubscribe ${contact.email} from everything?`)) bulk.mutate({ action: "unsubscribe" });
          }}
        >
          Unsubscribe from everything
        </Button>
        <Button
          color="red"
          variant="light"
          loading={remove.isPending}
          onClick={() => {
            if (window.confirm(`Delete ${contact.email}? Their history goes with them.`)) remove.mutate();
          }}
        >
          Delete contact
        </Button>
      </Group>
      {bulk.error && <ErrorAlert error={bulk.error} />}
      {remove.error && <ErrorAlert error={remove.error} />}
    </Paper>
  );
}

const EVENT_WORDS: Record<string, string> = {
  sent: "Sent",
  delivered: "Delivered",
  open: "Opened",
  click: "Clicked",
  bounce: "Bounced",
  complaint: "Complained",
  unsubscribe: "Unsubscribed",
};

function ActivityTimeline({ id }: { id: string }) {
  const ws = useWorkspaceId();
  const activity = useInfiniteQuery({
    queryKey: ["contacts", ws, "activity", id],
    initialPageParam: null as string | null,
    queryFn: async ({ pageParam }): Promise<ActivityPage> =>
      // The route also answers CSV, so its JSON body is typed here.
      (await unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/reports/contacts/{contact_id}/activity", {
          params: {
            path: { workspace_id: ws, contact_id: id },
            query: { limit: 25, cursor: pageParam ?? undefined },
          },
        }),
      )) as ActivityPage,
    getNextPageParam: (page) => page.next_cursor ?? null,
  });
  const items = activity.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="timeline-title">
      <Stack gap="sm">
        <Title order={2} size="h4" id="timeline-title">
          Activity
        </Title>
        {activity.error && <ErrorAlert error={activity.error} />}
        {activity.isLoading && <Loader size="sm" />}
        {activity.data && items.length === 0 && (
          <Text size="sm" c="dimmed">
            No activity yet.
          </Text>
        )}
        <Timeline bulletSize={14} lineWidth={2} data-testid="contact-timeline">
          {items.map((event) => (
            <Timeline.Item
              key={event.id}
              title={`${EVENT_WORDS[event.type] ?? event.type}${event.machine ? " (by a machine)" : ""}`}
            >
              <Text size="sm">
                {event.campaign_name ? (
                  <Anchor component={Link} href={`/campaigns/view/?id=${event.campaign_id}`}>
                    {event.campaign_name}
                  </Anchor>
                ) : (
                  "—"
                )}
                {event.variant ? ` · variant ${event.variant}` : ""}
              </Text>
              {event.url && (
                <Text size="xs" c="dimmed" style={{ wordBreak: "break-all" }}>
                  {event.url}
                </Text>
              )}
              {event.machine && (
                <Text size="xs" c="dimmed">
                  {event.machine}
                </Text>
              )}
              <Text size="xs" c="dimmed">
                {new Date(event.occurred_at).toLocaleString()}
              </Text>
            </Timeline.Item>
          ))}
        </Timeline>
        {activity.hasNextPage && (
          <Button variant="subtle" size="xs" loading={activity.isFetchingNextPage} onClick={() => activity.fetchNextPage()}>
            Older activity
          </Button>
        )}
      </Stack>
    </Paper>
  );
}

function Consents({ id }: { id: string }) {
  const ws = useWorkspaceId();
  const lists = useAllLists();
  const consents = useInfiniteQuery({
    queryKey: ["consents", ws, id],
    initialPageParam: null as string | null,
    queryFn: ({ pageParam }) =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/contacts/{contact_id}/consents", {
          params: { path: { workspace_id: ws, contact_id: id }, query: { limit: 50, cursor: pageParam ?? undefined } },
        }),
      ),
    getNextPageParam: (page) => page.next_cursor ?? null,
  });
  const items = consents.data?.pages.flatMap((p) => p.items) ?? [];
  const listName = (listId: string | null) =>
    listId ? (lists.data?.find((l) => l.id === listId)?.name ?? "a deleted list") : "everything";
  return (
    <Paper withBorder p="md" component="section" aria-labelledby="consents-title">
      <Stack gap="sm">
        <Title order={2} size="h4" id="consents-title">
          Consent trail
        </Title>
        {consents.error && <ErrorAlert error={consents.error} />}
        {consents.data && items.length === 0 && (
          <Text size="sm" c="dimmed">
            No consent records.
          </Text>
        )}
        {items.length > 0 && (
          <Table.ScrollContainer minWidth={480}>
            <Table data-testid="contact-consents">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>When</Table.Th>
                  <Table.Th>What</Table.Th>
                  <Table.Th>List</Table.Th>
                  <Table.Th>How</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {items.map((c) => (
                  <Table.Tr key={c.id}>
                    <Table.Td>{new Date(c.occurred_at).toLocaleString()}</Table.Td>
                    <Table.Td>{c.action}</Table.Td>
                    <Table.Td>{listName(c.list_id)}</Table.Td>
                    <Table.Td>
                      <Text size="sm">
                        {c.source}
                        {c.channel ? ` (${c.channel})` : ""}
                      </Text>
                      {(c.reason || c.ip) && (
                        <Text size="xs" c="dimmed">
                          {[c.reason, c.ip, c.user_agent].filter(Boolean).join(" · ")}
                        </Text>
                      )}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
        )}
        {consents.hasNextPage && (
          <Button variant="subtle" size="xs" onClick={() => consents.fetchNextPage()}>
            More
          </Button>
        )}
      </Stack>
    </Paper>
  );
}
