"use client";

import {
  Anchor,
  Badge,
  Button,
  Checkbox,
  Group,
  Loader,
  Paper,
  SegmentedControl,
  Select,
  SimpleGrid,
  Stack,
  Table,
  Text,
  TextInput,
} from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useState } from "react";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import type { components, operations } from "@/api/schema";
import { useWorkspaceId } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";

import { useAllLists, useAllSegments, useCustomFields } from "./data";
import { Pager, useCursorPager } from "./Pager";

type ContactStatus = NonNullable<NonNullable<operations["contacts_list"]["parameters"]["query"]>["status"]>;
type BulkAction = components["schemas"]["BulkAction"];

const STATUSES: ContactStatus[] = ["subscribed", "unsubscribed", "bounced", "complained", "cleaned"];

export const STATUS_COLORS: Record<string, string> = {
  subscribed: "green",
  unsubscribed: "gray",
  bounced: "orange",
  complained: "red",
  cleaned: "dark",
};

interface Filters {
  q: string;
  tag: string;
  listId: string;
  status: string;
  field: string;
  value: string;
}

const NO_FILTERS: Filters = { q: "", tag: "", listId: "", status: "", field: "", value: "" };

export function ContactsTable() {
  const ws = useWorkspaceId();
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [debounced] = useDebouncedValue(filters, 300);
  const pager = useCursorPager([debounced]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const lists = useAllLists();
  const fields = useCustomFields();

  const contacts = useQuery({
    queryKey: ["contacts", ws, debounced, pager.cursor],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/contacts", {
          params: {
            path: { workspace_id: ws },
            query: {
              limit: 50,
              cursor: pager.cursor ?? undefined,
              q: debounced.q.trim() || undefined,
              tag: debounced.tag.trim() || undefined,
              list_id: debounced.listId || undefined,
              status: (debounced.status || undefined) as ContactStatus | undefined,
              field: debounced.field && debounced.value.trim() ? debounced.field : undefined,
              value: debounced.field && debounced.value.trim() ? debounced.value.trim() : undefined,
            },
          },
        }),
      ),
    placeholderData: (previous) => previous,
  });
  const items = contacts.data?.items ?? [];
  const allOnPage = items.length > 0 && items.every((c) => selected.has(c.id));
  const set = (change: Partial<Filters>) => setFilters((f) => ({ ...f, ...change }));
  const toggle = (id: string) =>
    setSelected((s) => {
      const next = new Set(s);
      if (next.has(id)) next.delete(id);
      else next.add(id);
      return next;
    });

  return (
    <Stack>
      <Paper withBorder p="sm" component="form" role="search" aria-label="Search contacts" onSubmit={(e) => e.preventDefault()}>
        <SimpleGrid cols={{ base: 1, xs: 2, md: 3, lg: 6 }}>
          <TextInput
            label="Search"
            description="Start of the address, or a name"
            placeholder="ann@ or Ann"
            value={filters.q}
            onChange={(e) => set({ q: e.currentTarget.value })}
            data-testid="contacts-search"
          />
          <TextInput
            label="Tag"
            description="Exact tag"
            value={filters.tag}
            onChange={(e) => set({ tag: e.currentTarget.value })}
            data-testid="contacts-filter-tag"
          />
          <Select
            label="List"
            description="Member of"
            placeholder="any list"
            clearable
            data={(lists.data ?? []).map((l) => ({ value: l.id, label: l.name }))}
            value={filters.listId || null}
            onChange={(v) => set({ listId: v ?? "" })}
            data-testid="contacts-filter-list"
          />
          <Select
            label="Status"
            description="Contact status"
            placeholder="any status"
            clearable
            data={STATUSES}
            value={filters.status || null}
            onChange={(v) => set({ status: v ?? "" })}
            data-testid="contacts-filter-status"
          />
          <Select
            label="Custom field"
            description="Field to match"
            placeholder="none"
            clearable
            data={(fields.data ?? []).map((f) => ({ value: f.key, label: f.label }))}
            value={filters.field || null}
            onChange={(v) => set({ field: v ?? "" })}
            data-testid="contacts-filter-field"
          />
          <TextInput
            label="Field value"
            description="Exact value"
            disabled={!filters.field}
            value={filters.value}
            onChange={(e) => set({ value: e.currentTarget.value })}
            data-testid="contacts-filter-value"
          />
        </SimpleGrid>
        <Group justify="flex-end" mt="xs">
          <Button variant="subtle" size="xs" onClick={() => setFilters(NO_FILTERS)}>
            Clear filters
          </Button>
        </Group>
      </Paper>

      <BulkBar selected={[...selected]} onDone={() => setSelected(new Set())} />

      {contacts.error && <ErrorAlert error={contacts.error} />}
      <Table.ScrollContainer minWidth={720}>
        <Table striped highlightOnHover data-testid="contacts-table">
          <Table.Thead>
            <Table.Tr>
              <Table.Th w={{ base: "100%", xs: 40 }}>
                <Checkbox
                  aria-label="Select every contact on this page"
                  checked={allOnPage}
                  indeterminate={!allOnPage && items.some((c) => selected.has(c.id))}
                  onChange={() =>
                    setSelected((s) => {
                      const next = new Set(s);
                      for (const c of items) {
                        if (allOnPage) next.delete(c.id);
                        else next.add(c.id);
                      }
                      return next;
                    })
                  }
                />
              </Table.Th>
              <Table.Th>Email</Table.Th>
              <Table.Th>Name</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th>Tags</Table.Th>
              <Table.Th>Added</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {items.map((c) => (
              <Table.Tr key={c.id} data-testid="contact-row">
                <Table.Td>
                  <Checkbox aria-label={`Select ${c.email}`} checked={selected.has(c.id)} onChange={() => toggle(c.id)} />
                </Table.Td>
                <Table.Td>
                  <Anchor component={Link} href={`/contacts/view/?id=${c.id}`}>
                    {c.email}
                  </Anchor>
                </Table.Td>
                <Table.Td>{[c.first_name, c.last_name].filter(Boolean).join(" ")}</Table.Td>
                <Table.Td>
                  <Badge variant="light" color={STATUS_COLORS[c.status] ?? "gray"}>
                    {c.status}
                  </Badge>
                </Table.Td>
                <Table.Td>
                  <Group gap={4}>
                    {c.tags.slice(0, 5).map((t) => (
                      <Badge key={t} variant="outline" size="sm">
                        {t}
                      </Badge>
                    ))}
                    {c.tags.length > 5 && <Text size="xs">+{c.tags.length - 5}</Text>}
                  </Group>
                </Table.Td>
                <Table.Td>{new Date(c.created_at).toLocaleDateString()}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {contacts.isLoading && <Loader size="sm" />}
      {contacts.data && items.length === 0 && (
        <Text c="dimmed" size="sm" data-testid="contacts-empty">
          No contacts match. Import a file or add a contact.
        </Text>
      )}
      <Pager pager={pager} nextCursor={contacts.data?.next_cursor ?? null} />
    </Stack>
  );
}

const ACTIONS: { value: BulkAction["action"]; label: string; done: string }[] = [
  { value: "tag", label: "Add a tag", done: "tagged" },
  { value: "untag", label: "Remove a tag", done: "untagged" },
  { value: "add_to_list", label: "Add to a list", done: "added to the list" },
  { value: "remove_from_list", label: "Remove from a list", done: "removed from the list" },
  { value: "unsubscribe", label: "Unsubscribe", done: "unsubscribed" },
  { value: "delete", label: "Delete", done: "deleted" },
];

function BulkBar({ selected, onDone }: { selected: string[]; onDone: () => void }) {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  const lists = useAllLists();
  const segments = useAllSegments();
  const [scope, setScope] = useState<"selected" | "segment" | "all">("selected");
  const [segmentId, setSegmentId] = useState<string | null>(null);
  const [action, setAction] = useState<BulkAction["action"]>("tag");
  const [tag, setTag] = useState("");
  const [listId, setListId] = useState<string | null>(null);
  const [result, setResult] = useState<string | null>(null);

  const run = useMutation({
    mutationFn: (body: BulkAction) =>
      unwrap(api.POST("/api/v1/workspaces/{workspace_id}/contacts/bulk", { params: { path: { workspace_id: ws } }, body })),
    onSuccess: async (data) => {
      const done = ACTIONS.find((a) => a.value === data.action)?.done ?? data.action;
      setResult(`${data.affected} ${data.affected === 1 ? "contact" : "contacts"} ${done}.`);
      onDone();
      await queryClient.invalidateQueries({ queryKey: ["contacts", ws] });
      await queryClient.invalidateQueries({ queryKey: ["lists", ws] });
    },
  });

  const needsTag = action === "tag" || action === "untag";
  const needsList = action === "add_to_list" || action === "remove_from_list";
  const selection: BulkAction["selection"] | null =
    scope === "selected"
      ? selected.length
        ? { contact_ids: selected }
        : null
      : scope === "segment"
        ? segmentId
          ? { segment_id: segmentId }
          : null
        : { all: true };
  const ready = selection !== null && (!needsTag || tag.trim()) && (!needsList || listId);
  const who =
    scope === "selected"
      ? `${selected.length} selected ${selected.length === 1 ? "contact" : "contacts"}`
      : scope === "segment"
        ? `every contact in the segment “${segments.data?.find((s) => s.id === segmentId)?.name ?? ""}”`
        : "every contact in the workspace";

  const apply = () => {
    if (!selection) return;
    if ((action === "delete" || action === "unsubscribe" || scope !== "selected") &&
      !window.confirm(`${ACTIONS.find((a) => a.value === action)?.label} — ${who}?`)) return;
    setResult(null);
    run.mutate({
      action,
      selection,
      tag: needsTag ? tag.trim() : undefined,
      list_id: needsList ? (listId ?? undefined) : undefined,
    });
  };

  return (
    <Paper withBorder p="sm" role="region" aria-label="Bulk actions">
      <Group align="flex-end" gap="sm" wrap="wrap">
        <div>
          <Text size="sm" fw={500} id="bulk-scope-label">
            Apply to
          </Text>
          <SegmentedControl
            aria-labelledby="bulk-scope-label"
            value={scope}
            onChange={(v) => setScope(v as typeof scope)}
            data={[
              { value: "selected", label: `Selected (${selected.length})` },
              { value: "segment", label: "A segment" },
              { value: "all", label: "All contacts" },
            ]}
            data-testid="bulk-scope"
          />
        </div>
        {scope === "segment" && (
          <Select
            label="Segment"
            placeholder="Choose a segment"
            data={(segments.data ?? []).map((s) => ({ value: s.id, label: s.name }))}
            value={segmentId}
            onChange={setSegmentId}
            searchable
            w={{ base: "100%", xs: 220 }}
            data-testid="bulk-segment"
          />
        )}
        <Select
          label="Action"
          data={ACTIONS.map(({ value, label }) => ({ value, label }))}
          value={action}
          allowDeselect={false}
          onChange={(v) => v && setAction(v as BulkAction["action"])}
          w={{ base: "100%", xs: 200 }}
          data-testid="bulk-action"
        />
        {needsTag && (
          <TextInput label="Tag" value={tag} onChange={(e) => setTag(e.currentTarget.value)} w={{ base: "100%", xs: 180 }} data-testid="bulk-tag" />
        )}
        {needsList && (
          <Select
            label="List"
            placeholder="Choose a list"
            data={(lists.data ?? []).map((l) => ({ value: l.id, label: l.name }))}
            value={listId}
            onChange={setListId}
            searchable
            w={{ base: "100%", xs: 220 }}
            data-testid="bulk-list"
          />
        )}
        <Button
          onClick={apply}
          disabled={!ready}
          loading={run.isPending}
          color={action === "delete" ? "red" : undefined}
          data-testid="bulk-apply"
        >
          Apply
        </Button>
      </Group>
      {run.error && (
        <Stack mt="sm">
          <ErrorAlert error={run.error} />
        </Stack>
      )}
      {result && (
        <Text size="sm" mt="sm" role="status" data-testid="bulk-result">
          {result}
        </Text>
      )}
    </Paper>
  );
}
