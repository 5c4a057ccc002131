"use client";

import {
  Alert,
  Anchor,
  Badge,
  Button,
  FileInput,
  Group,
  MultiSelect,
  Progress,
  Select,
  SimpleGrid,
  Stack,
  Stepper,
  Table,
  TagsInput,
  Text,
  Title,
} from "@mantine/core";
import { IconUpload } from "@tabler/icons-react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useEffect, useState } from "react";

import { api } from "@/api/client";
import { errorMessage, unwrap } from "@/api/errors";
import type { components } from "@/api/schema";
import { useWorkspaceId } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";

import { useAllLists, useCustomFields } from "./data";
import { rawRequest } from "./http";

type ImportOut = components["schemas"]["ImportOut"];
type ImportUploaded = components["schemas"]["ImportUploaded"];

const NEW_FIELD = "new-field";

/** A custom field key from a column name: `Favourite colour` -> `favourite_colour`. */
export function fieldKey(column: string): string {
  const key = column
    .normalize("NFKD")
    .replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^[^a-z]+/, "")
    .replace(/_+$/, "")
    .slice(0, 64);
  return key || "field";
}

const FINISHED = new Set(["completed", "failed", "cancelled"]);

const MODES = [
  { value: "add_only", label: "Add new contacts; existing ones only get the lists and tags" },
  { value: "update_existing", label: "Add new contacts and update existing ones" },
  { value: "skip_existing", label: "Only add new contacts; leave existing ones alone" },
];

export function ImportWizard() {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [uploaded, setUploaded] = useState<ImportUploaded | null>(null);
  const [mapping, setMapping] = useState<Record<string, string>>({});
  const [mode, setMode] = useState("add_only");
  const [listIds, setListIds] = useState<string[]>([]);
  const [tags, setTags] = useState<string[]>([]);
  const [startedId, setStartedId] = useState<string | null>(null);

  const fields = useCustomFields();
  const lists = useAllLists();

  const upload = useMutation({
    mutationFn: async (chosen: File) => {
      const form = new FormData();
      form.append("file", chosen);
      const response = await rawRequest(`/api/v1/workspaces/${ws}/imports`, { method: "POST", body: form });
      return (await response.json()) as ImportUploaded;
    },
    onSuccess: (data) => {
      setUploaded(data);
      setMapping(Object.fromEntries(data.columns.map((c) => [c, data.mapping[c] ?? "ignore"])));
    },
  });

  const start = useMutation({
    mutationFn: async () => {
      if (!uploaded) throw new Error("upload a file first");
      const path = { workspace_id: ws, import_id: uploaded.id };
      await unwrap(
        api.PATCH("/api/v1/workspaces/{workspace_id}/imports/{import_id}", {
          params: { path },
          body: {
            mapping: Object.fromEntries(Object.entries(mapping).filter(([, target]) => target !== "ignore")),
            mode: mode as ImportOut["mode"],
            list_ids: listIds,
            tags,
          },
        }),
      );
      return unwrap(api.POST("/api/v1/workspaces/{workspace_id}/imports/{import_id}/start", { params: { path } }));
    },
    onSuccess: (data) => {
      setStartedId(data.id);
      void queryClient.invalidateQueries({ queryKey: ["imports", ws] });
    },
  });

  const progress = useQuery({
    queryKey: ["import", ws, startedId],
    enabled: startedId !== null,
    queryFn: async () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/imports/{import_id}", {
          params: { path: { workspace_id: ws, import_id: startedId ?? "" } },
        }),
      ),
    refetchInterval: (query) => (query.state.data && FINISHED.has(query.state.data.status) ? false : 1000),
  });

  const current = progress.data;
  const finished = current !== undefined && FINISHED.has(current.status);
  const finalStatus = finished ? current.status : null;
  useEffect(() => {
    if (!finalStatus) return;
    // The import changed the workspace all at once: refresh what shows it.
    void queryClient.invalidateQueries({ queryKey: ["imports", ws] });
    if (finalStatus === "completed") {
      void queryClient.invalidateQueries({ queryKey: ["contacts", ws] });
      void queryClient.invalidateQueries({ queryKey: ["lists", ws] });
      void queryClient.invalidateQueries({ queryKey: ["segments", ws] });
    }
  }, [finalStatus, queryClient, ws]);

  const cancel = useMutation({
    mutationFn: async () =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/imports/{import_id}/cancel", {
          params: { path: { workspace_id: ws, import_id: startedId ?? "" } },
        }),
      ),
    onSuccess: () => progress.refetch(),
  });

  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const newField = useMutation({
    mutationFn: ({ column }: { column: string }) =>
      unwrap(
        api.POST("/api/v1/workspaces/{workspace_id}/fields", {
          params: { path: { workspace_id: ws } },
          body: { key: fieldKey(column), label: column.trim() || fieldKey(column), type: "text", choices: [] },
        }),
      ),
    onSuccess: async (field, { column }) => {
      await queryClient.invalidateQueries({ queryKey: ["fields", ws] });
      setMapping((m) => ({ ...m, [column]: `field:${field.key}` }));
      setFieldErrors((errors) => Object.fromEntries(Object.entries(errors).filter(([name]) => name !== column)));
    },
    onError: (error, { column }) => setFieldErrors((e) => ({ ...e, [column]: errorMessage(error) })),
  });

  const chooseTarget = (column: string, target: string) => {
    if (target === NEW_FIELD) newField.mutate({ column });
    else setMapping({ ...mapping, [column]: target });
  };

  const step = startedId ? (finished ? 3 : 2) : uploaded ? 1 : 0;
  const targets = [
    { value: "ignore", label: "(ignore this column)" },
    { value: "email", label: "Email" },
    { value: "first_name", label: "First name" },
    { value: "last_name", label: "Last name" },
    { value: "timezone", label: "Time zone" },
    { value: "locale", label: "Locale" },
    { value: "tags", label: "Tags (comma-separated)" },
    ...(fields.data ?? []).map((f) => ({ value: `field:${f.key}`, label: `Custom field: ${f.label}` })),
    { value: NEW_FIELD, label: "New custom field (text) named after the column" },
  ];
  const emailColumns = Object.values(mapping).filter((t) => t === "email").length;

  const reset = () => {
    setFile(null);
    setUploaded(null);
    setMapping({});
    setStartedId(null);
    setListIds([]);
    setTags([]);
    upload.reset();
    start.reset();
  };

  return (
    <Stack>
      <Stepper active={step} size="sm" allowNextStepsSelect={false}>
        <Stepper.Step label="Upload" description="CSV or JSON Lines">
          <Stack maw={520}>
            <FileInput
              label="File to import"
              description="CSV (any delimiter, UTF-8 or Latin-1) or JSON Lines; the first row names the columns"
              placeholder="Choose a file"
              accept=".csv,.tsv,.txt,.jsonl,.json,text/csv"
              leftSection={<IconUpload size={16} />}
              value={file}
              onChange={setFile}
              data-testid="import-file"
              error={upload.error ? errorMessage(upload.error) : undefined}
            />
            <Group>
              <Button
                disabled={!file}
                loading={upload.isPending}
                onClick={() => file && upload.mutate(file)}
                data-testid="import-upload"
              >
                Upload
              </Button>
            </Group>
          </Stack>
        </Stepper.Step>
        <Stepper.Step label="Map columns" description="and choose lists">
          {uploaded && (
            <Stack>
              <Text size="sm">
                {uploaded.filename}: {uploaded.format.toUpperCase()}
                {uploaded.delimiter ? `, delimiter “${uploaded.delimiter === "\t" ? "tab" : uploaded.delimiter}”` : ""}
                {uploaded.encoding ? `, ${uploaded.encoding}` : ""}. Check how each column is imported:
              </Text>
              <Table.ScrollContainer minWidth={480}>
                <Table striped withTableBorder data-testid="import-mapping">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Column</Table.Th>
                      <Table.Th>First values</Table.Th>
                      <Table.Th>Import as</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {uploaded.columns.map((column, index) => (
                      <Table.Tr key={column}>
                        <Table.Td>{column}</Table.Td>
                        <Table.Td>
                          <Text size="xs" c="dimmed" lineClamp={2}>
                            {uploaded.sample
                              .map((row) => row[index] ?? "")
                              .filter(Boolean)
                              .slice(0, 3)
                              .join(", ")}
                          </Text>
                        </Table.Td>
                        <Table.Td>
                          <Select
                            aria-label={`Import column ${column} as`}
                            data-testid={`import-map-${column}`}
                            data={targets}
                            value={mapping[column] ?? "ignore"}
                            allowDeselect={false}
                            searchable
                            onChange={(next) => chooseTarget(column, next ?? "ignore")}
                            error={fieldErrors[column]}
                          />
                        </Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
              {emailColumns !== 1 && (
                <Alert color="yellow" role="alert">
                  Exactly one column must be imported as Email.
                </Alert>
              )}
              <SimpleGrid cols={{ base: 1, sm: 3 }}>
                <Select
                  label="Contacts that already exist"
                  data={MODES}
                  value={mode}
                  allowDeselect={false}
                  onChange={(next) => setMode(next ?? "add_only")}
                  data-testid="import-mode"
                />
                <MultiSelect
                  label="Subscribe everyone to these lists"
                  data={(lists.data ?? []).map((l) => ({ value: l.id, label: l.name }))}
                  value={listIds}
                  onChange={setListIds}
                  searchable
                  data-testid="import-lists"
                />
                <TagsInput
                  label="Tag everyone with"
                  description="Enter to add each tag"
                  value={tags}
                  onChange={setTags}
                  data-testid="import-tags"
                />
              </SimpleGrid>
              <Group>
                <Button variant="default" onClick={reset}>
                  Choose another file
                </Button>
                <Button
                  onClick={() => start.mutate()}
                  loading={start.isPending}
                  disabled={emailColumns !== 1}
                  data-testid="import-start"
                >
                  Start import
                </Button>
              </Group>
              {start.error && <ErrorAlert error={start.error} />}
            </Stack>
          )}
        </Stepper.Step>
        <Stepper.Step label="Import" description="progress">
          {current && <ImportProgressView record={current} />}
          <Group mt="sm">
            <Button
              variant="default"
              color="red"
              loading={cancel.isPending}
              onClick={() => cancel.mutate()}
              data-testid="import-cancel"
            >
              Cancel import
            </Button>
          </Group>
          {cancel.error && <ErrorAlert error={cancel.error} />}
        </Stepper.Step>
        <Stepper.Completed>
          {current && (
            <Stack>
              <ImportProgressView record={current} />
              <ErrorReport record={current} />
              <Group>
                <Button onClick={reset} variant="light" data-testid="import-again">
                  Import another file
                </Button>
              </Group>
            </Stack>
          )}
        </Stepper.Completed>
      </Stepper>
      {progress.error && <ErrorAlert error={progress.error} />}
    </Stack>
  );
}

const PHASES: Record<string, string> = {
  reading: "Reading the file",
  merging: "Merging into contacts",
  subscribing: "Subscribing to lists",
  reporting: "Writing the error report",
  done: "Done",
};

export function ImportProgressView({ record }: { record: ImportOut }) {
  const finished = FINISHED.has(record.status);
  const percent = finished ? 100 : (record.progress?.percent ?? 0);
  const color = record.status === "failed" ? "red" : record.status === "cancelled" ? "gray" : record.status === "completed" ? "green" : "blue";
  const counters: [string, number][] = [
    ["Rows", record.rows_total],
    ["Created", record.rows_created],
    ["Updated", record.rows_updated],
    ["Skipped", record.rows_skipped],
    ["Invalid", record.rows_invalid],
    ["Repeated", record.rows_duplicate],
    ["Role addresses", record.rows_role],
    ["Suppressed", record.rows_suppressed],
    ["Subscriptions", record.subscriptions],
  ];
  const phase =
    record.status === "running" || record.status === "queued"
      ? record.progress
        ? PHASES[record.progress.phase] ?? record.progress.phase
        : "Waiting for a worker"
      : record.status;
  return (
    <Stack gap="sm" data-testid="import-progress-panel">
      <Group justify="space-between">
        <Text fw={500}>
          {record.filename}:{" "}
          <Badge color={color} variant="light" data-testid="import-status">
            {record.status}
          </Badge>
        </Text>
        <Text size="sm" c="dimmed">
          {phase}
          {record.progress && record.status === "running" && record.progress.rows_per_second > 0
            ? ` · ${Math.round(record.progress.rows_per_second).toLocaleString()} rows/s`
            : ""}
        </Text>
      </Group>
      <Progress
        value={percent}
        color={color}
        size="lg"
        striped={!finished}
        animated={!finished}
        aria-label="Import progress"
        data-testid="import-progress"
      />
      {record.error && (
        <Alert color="red" role="alert">
          {record.error}
        </Alert>
      )}
      <SimpleGrid cols={{ base: 2, xs: 3, md: 5 }} spacing="xs">
        {counters.map(([label, value]) => (
          <div key={label}>
            <Text size="xs" c="dimmed">
              {label}
            </Text>
            <Text fw={600} data-testid={`import-count-${label.toLowerCase().replace(/ /g, "-")}`}>
              {value.toLocaleString()}
            </Text>
          </div>
        ))}
      </SimpleGrid>
    </Stack>
  );
}

/** Splits CSV text (RFC 4180: quotes, doubled quotes, line breaks in quotes). */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          cell += '"';
          i++;
        } else quoted = false;
      } else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(cell);
      cell = "";
    } else if (ch === "\n" || ch === "\r") {
      if (ch === "\r" && text[i + 1] === "\n") i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = "";
    } else cell += ch;
  }
  if (cell !== "" || row.length) {
    row.push(cell);
    rows.push(row);
  }
  return rows;
}

const REPORT_ROWS_SHOWN = 200;

export function ErrorReport({ record }: { record: ImportOut }) {
  const ws = useWorkspaceId();
  const report = useQuery({
    queryKey: ["import-errors", ws, record.id],
    enabled: record.has_error_report,
    queryFn: async () => {
      const response = await rawRequest(`/api/v1/workspaces/${ws}/imports/${record.id}/errors`);
      return response.text();
    },
  });
  if (!record.has_error_report) {
    return record.status === "completed" ? (
      <Text size="sm" c="dimmed" data-testid="import-no-errors">
        Every row was imported without a problem.
      </Text>
    ) : null;
  }
  const rows = report.data ? parseCsv(report.data).slice(1) : [];
  const download = () => {
    if (!report.data) return;
    const url = URL.createObjectURL(new Blob([report.data], { type: "text/csv" }));
    const link = document.createElement("a");
    link.href = url;
    link.download = `import-${record.id}-errors.csv`;
    link.click();
    URL.revokeObjectURL(url);
  };
  return (
    <Stack gap="xs">
      <Group justify="space-between">
        <Title order={3} size="h5">
          Error report {report.data ? `(${rows.length} ${rows.length === 1 ? "problem" : "problems"})` : ""}
        </Title>
        <Button size="xs" variant="light" onClick={download} disabled={!report.data} data-testid="import-errors-download">
          Download CSV
        </Button>
      </Group>
      {report.error && <ErrorAlert error={report.error} />}
      {report.isLoading && <Text size="sm">Loading the report…</Text>}
      {rows.length > 0 && (
        <Table.ScrollContainer minWidth={480}>
          <Table striped withTableBorder data-testid="import-errors">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Row</Table.Th>
                <Table.Th>Value</Table.Th>
                <Table.Th>Problem</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.slice(0, REPORT_ROWS_SHOWN).map((r, index) => (
                <Table.Tr key={index}>
                  <Table.Td>{r[0]}</Table.Td>
                  <Table.Td style={{ wordBreak: "break-all" }}>{r[1]}</Table.Td>
                  <Table.Td>{r[2]}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {rows.length > REPORT_ROWS_SHOWN && (
        <Text size="xs" c="dimmed">
          The first {REPORT_ROWS_SHOWN} problems are shown; download the CSV for all of them.
        </Text>
      )}
    </Stack>
  );
}

/** The workspace's earlier imports, newest first. */
export function ImportHistory() {
  const ws = useWorkspaceId();
  const imports = useQuery({
    queryKey: ["imports", ws],
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/imports", {
          params: { path: { workspace_id: ws }, query: { limit: 20 } },
        }),
      ),
    refetchInterval: (query) =>
      query.state.data?.items.some((i) => !FINISHED.has(i.status) && i.status !== "uploaded") ? 2000 : false,
  });
  const [open, setOpen] = useState<string | null>(null);
  const items = imports.data?.items ?? [];
  if (imports.error) return <ErrorAlert error={imports.error} />;
  if (items.length === 0) return null;
  const opened = items.find((i) => i.id === open);
  return (
    <Stack gap="xs">
      <Title order={2} size="h4">
        Earlier imports
      </Title>
      <Table.ScrollContainer minWidth={560}>
        <Table striped data-testid="import-history">
          <Table.Thead>
            <Table.Tr>
              <Table.Th>File</Table.Th>
              <Table.Th>Status</Table.Th>
              <Table.Th ta="right">Created</Table.Th>
              <Table.Th ta="right">Invalid</Table.Th>
              <Table.Th>When</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {items.map((i) => (
              <Table.Tr key={i.id}>
                <Table.Td>
                  <Anchor component="button" type="button" onClick={() => setOpen(open === i.id ? null : i.id)}>
                    {i.filename}
                  </Anchor>
                </Table.Td>
                <Table.Td>{i.status}</Table.Td>
                <Table.Td ta="right">{i.rows_created}</Table.Td>
                <Table.Td ta="right">{i.rows_invalid}</Table.Td>
                <Table.Td>{new Date(i.created_at).toLocaleString()}</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </Table.ScrollContainer>
      {opened && (
        <Stack>
          <ImportProgressView record={opened} />
          <ErrorReport record={opened} />
        </Stack>
      )}
    </Stack>
  );
}
