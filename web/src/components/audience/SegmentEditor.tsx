"use client";

import { Alert, Anchor, Button, Group, Loader, Paper, Stack, Text, TextInput, Textarea, Title, Code } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useMemo, useState } from "react";

import { api } from "@/api/client";
import { ApiError, errorMessage, unwrap } from "@/api/errors";
import type { components } from "@/api/schema";
import { useWorkspaceId } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";

import { useAllLists, useCustomFields, useRecentCampaigns } from "./data";
import { fromJson, newCondition, newGroup, nodeForPath, toJson, type GroupState, type Json } from "./rules";
import { SegmentBuilder, type BuilderContext } from "./SegmentBuilder";

type Segment = components["schemas"]["SegmentOut"];
type Rules = components["schemas"]["SegmentCreate"]["rules"];
type Detail = { path?: string; loc?: string[]; message: string };

// Segments created on this page, so the page that reopens on one can say it was saved.
const justCreated = new Set<string>();

/** Each API problem by the builder node it names; the rest stay general. */
function problemsByNode(error: unknown, paths: Map<string, string>): { byNode: Map<string, string[]>; general: string[] } {
  const byNode = new Map<string, string[]>();
  const general: string[] = [];
  if (!(error instanceof ApiError)) return { byNode, general: error ? [errorMessage(error)] : [] };
  const details = error.details as Detail[];
  for (const detail of details) {
    const path = detail.path ?? (detail.loc ?? []).filter((p) => p !== "body").join(".");
    const id = path.startsWith("rules") ? nodeForPath(paths, path) : undefined;
    if (id) byNode.set(id, [...(byNode.get(id) ?? []), detail.message]);
    else general.push(path ? `${path}: ${detail.message}` : detail.message);
  }
  if (details.length === 0) general.push(error.message);
  return { byNode, general };
}

export function SegmentEditorPage({ id }: { id: string | null }) {
  const ws = useWorkspaceId();
  const segment = useQuery({
    queryKey: ["segments", ws, "one", id],
    enabled: id !== null,
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/segments/{segment_id}", {
          params: { path: { workspace_id: ws, segment_id: id ?? "" } },
        }),
      ),
  });
  if (id && segment.error) return <ErrorAlert error={segment.error} />;
  if (id && !segment.data) return <Loader size="sm" />;
  return <SegmentEditor segment={segment.data ?? null} key={segment.data?.id ?? "new"} />;
}

function SegmentEditor({ segment }: { segment: Segment | null }) {
  const ws = useWorkspaceId();
  const router = useRouter();
  const queryClient = useQueryClient();
  const customFields = useCustomFields();
  const lists = useAllLists();
  const campaigns = useRecentCampaigns();
  const [name, setName] = useState(segment?.name ?? "");
  const [description, setDescription] = useState(segment?.description ?? "");
  const [rules, setRules] = useState<GroupState>(() =>
    segment ? fromJson(segment.rules as unknown as Json) : newGroup("all", [newCondition()]),
  );
  const [nameError, setNameError] = useState<string | null>(null);
  const [created] = useState(() => (segment ? justCreated.delete(segment.id) : false));

  const fields = useMemo(() => customFields.data ?? [], [customFields.data]);
  const { json, paths } = useMemo(() => {
    const map = new Map<string, string>();
    return { json: toJson(rules, fields, map), paths: map };
  }, [rules, fields]);
  const [debouncedJson] = useDebouncedValue(JSON.stringify(json), 400);

  const count = useQuery({
    queryKey: ["segments", ws, "count", debouncedJson],
    enabled: customFields.isSuccess,
    queryFn: () =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/segments/count", {
          params: { path: { workspace_id: ws } },
          body: { rules: JSON.parse(debouncedJson) as Rules },
        }),
      ),
    placeholderData: (previous) => previous,
    retry: false,
  });

  const save = useMutation({
    mutationFn: async () => {
      const body = { name: name.trim(), description: description.trim(), rules: json as unknown as Rules };
      if (segment) {
        return unwrap(
          api.PATCH("/api/v1/workspaces/{workspace_id}/segments/{segment_id}", {
            params: { path: { workspace_id: ws, segment_id: segment.id } },
            body,
          }),
        );
      }
      return unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/segments", { params: { path: { workspace_id: ws } }, body }),
      );
    },
    onSuccess: async (saved) => {
      queryClient.setQueryData(["segments", ws, "one", saved.id], saved);
      await queryClient.invalidateQueries({
        queryKey: ["segments", ws],
        predicate: (query) => query.queryKey[2] !== "one",
      });
      if (!segment) {
        // The page reopens on the saved segment; it says so there.
        justCreated.add(saved.id);
        router.replace(`/segments/edit/?id=${saved.id}`);
      }
    },
    onError: (error) => {
      if (error instanceof ApiError) {
        const found = error.fieldErrors();
        setNameError(found.name ?? null);
      }
    },
  });

  const remove = useMutation({
    mutationFn: () =>
      unwrap(
        api.DELETE("/api/v1/workspaces/{workspace_id}/segments/{segment_id}", {
          params: { path: { workspace_id: ws, segment_id: segment?.id ?? "" } },
        }),
      ),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["segments", ws] });
      router.push("/segments/");
    },
  });

  // Problems from the live count show while editing; those from saving once saved.
  const countProblems = problemsByNode(count.error, paths);
  const saveProblems = problemsByNode(save.error, paths);
  const errors = new Map(countProblems.byNode);
  for (const [node, messages] of saveProblems.byNode) {
    errors.set(node, [...new Set([...(errors.get(node) ?? []), ...messages])]);
  }
  const context: BuilderContext = {
    customFields: fields,
    lists: (lists.data ?? []).map((l) => ({ id: l.id, name: l.name })),
    campaigns: (campaigns.data ?? []).map((c) => ({ id: c.id, name: c.name })),
    errors,
  };
  const stale = JSON.stringify(json) !== debouncedJson || count.isFetching;

  return (
    <Stack>
      <Group justify="space-between" wrap="wrap">
        <Title order={1} size="h2">
          {segment ? `Segment: ${segment.name}` : "New segment"}
        </Title>
        <Anchor component={Link} href="/segments/">
          All segments
        </Anchor>
      </Group>
      <form
        onSubmit={(event) => {
          event.preventDefault();
          setNameError(null);
          if (!name.trim()) {
            setNameError("A segment needs a name");
            return;
          }
          save.mutate();
        }}
      >
        <Stack>
          <Group align="flex-start" grow wrap="wrap">
            <TextInput
              label="Name"
              required
              value={name}
              error={nameError}
              onChange={(e) => setName(e.currentTarget.value)}
              data-testid="segment-name"
              miw={240}
            />
            <Textarea
              label="Description"
              autosize
              minRows={1}
              value={description}
              onChange={(e) => setDescription(e.currentTarget.value)}
              miw={240}
            />
          </Group>
          <Paper
            withBorder
            p="sm"
            role="status"
            aria-live="polite"
            aria-label="Contacts matching these rules"
            data-testid="segment-count"
            bg="var(--mantine-color-blue-0)"
          >
            <Group gap="lg" wrap="wrap">
              {count.data ? (
                <>
                  <Text>
                    <Text span fw={700} size="lg" data-testid="segment-count-total">
                      {count.data.count.toLocaleString()}
                    </Text>{" "}
                    {count.data.count === 1 ? "contact matches" : "contacts match"}
                  </Text>
                  <Text>
                    <Text span fw={700} size="lg" data-testid="segment-count-sendable">
                      {count.data.sendable.toLocaleString()}
                    </Text>{" "}
                    can be mailed (subscribed, not suppressed)
                  </Text>
                </>
              ) : count.error ? (
                <Text c="red">The rules cannot be counted yet; see the problems below.</Text>
              ) : (
                <Text c="dimmed">Counting…</Text>
              )}
              {stale && <Loader size="xs" aria-label="Counting" />}
            </Group>
          </Paper>
          {countProblems.general.length > 0 && (
            <Alert color="red" role="alert">
              {countProblems.general.join("; ")}
            </Alert>
          )}
          <SegmentBuilder value={rules} onChange={setRules} context={context} />
          <details>
            <summary>
              <Text span size="sm" c="dimmed">
                The rules as JSON
              </Text>
            </summary>
            <Code block data-testid="segment-json">
              {JSON.stringify(json, null, 2)}
            </Code>
          </details>
          {saveProblems.general.length > 0 && (
            <Alert color="red" role="alert" data-testid="segment-save-error">
              {saveProblems.general.join("; ")}
            </Alert>
          )}
          {((save.isSuccess && !save.isPending) || (created && save.isIdle)) && (
            <Text c="green" size="sm" role="status" data-testid="segment-saved">
              Segment saved.
            </Text>
          )}
          <Group justify="space-between">
            <Button type="submit" loading={save.isPending} data-testid="segment-save">
              {segment ? "Save segment" : "Create segment"}
            </Button>
            {segment && (
              <Button
                color="red"
                variant="subtle"
                loading={remove.isPending}
                onClick={() => {
                  if (window.confirm(`Delete the segment “${segment.name}”? Its contacts stay.`)) remove.mutate();
                }}
              >
                Delete segment
              </Button>
            )}
          </Group>
          {remove.error && <ErrorAlert error={remove.error} />}
        </Stack>
      </form>
    </Stack>
  );
}

export function SegmentsList() {
  const ws = useWorkspaceId();
  const segments = useQuery({
    queryKey: ["segments", ws, "list"],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/segments", {
          params: { path: { workspace_id: ws }, query: { limit: 200 } },
        }),
      ),
  });
  return (
    <Stack>
      {segments.error && <ErrorAlert error={segments.error} />}
      {segments.isLoading && <Loader size="sm" />}
      {segments.data && segments.data.items.length === 0 && (
        <Text c="dimmed" size="sm">
          No segments yet. A segment picks contacts by rules — their details, tags, lists and engagement — and
          stays up to date as contacts change.
        </Text>
      )}
      {(segments.data?.items ?? []).map((s) => (
        <Paper key={s.id} withBorder p="sm" data-testid="segment-item">
          <Group justify="space-between" wrap="wrap">
            <Stack gap={0}>
              <Anchor component={Link} href={`/segments/edit/?id=${s.id}`} fw={600}>
                {s.name}
              </Anchor>
              {s.description && (
                <Text size="sm" c="dimmed">
                  {s.description}
                </Text>
              )}
            </Stack>
            <SavedCount id={s.id} />
          </Group>
        </Paper>
      ))}
    </Stack>
  );
}

function SavedCount({ id }: { id: string }) {
  const ws = useWorkspaceId();
  const count = useQuery({
    queryKey: ["segments", ws, "saved-count", id],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/segments/{segment_id}/count", {
          params: { path: { workspace_id: ws, segment_id: id } },
        }),
      ),
    retry: false,
  });
  if (count.error) {
    return (
      <Text size="sm" c="red">
        {errorMessage(count.error)}
      </Text>
    );
  }
  if (!count.data) return <Loader size="xs" />;
  return (
    <Text size="sm">
      {count.data.count.toLocaleString()} contacts · {count.data.sendable.toLocaleString()} sendable
    </Text>
  );
}
