"use client";
// One template: code editor with a live preview (POST /templates/validate, debounced),
// errors by line, the visual MJML editor, and the saved versions.
import {
  Alert,
  Anchor,
  Badge,
  Button,
  Center,
  Grid,
  Group,
  List,
  Loader,
  SegmentedControl,
  Select,
  Stack,
  Tabs,
  Text,
  TextInput,
  UnstyledButton,
} from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { IconAlertTriangle, IconCheck, IconSparkles } from "@tabler/icons-react";
import dynamic from "next/dynamic";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useEffect, useMemo, useRef, useState } from "react";

import { ApiError, type ErrorDetail } from "@/api/errors";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";

import {
  STARTER_HTML,
  STARTER_MJML,
  useSaveTemplate,
  useTemplate,
  useTemplates,
  useValidation,
  type TemplateKind,
  type TemplateRole,
  type ValidateRequest,
} from "./api";
import { CodeEditor, type CodeEditorHandle } from "./CodeEditor";
import { PreviewFrame } from "./PreviewFrame";
import { TemplateVersions } from "./TemplateVersions";

const VisualEditor = dynamic(() => import("./VisualEditor").then((m) => m.VisualEditor), {
  ssr: false,
  loading: () => (
    <Center p="xl">
      <Loader aria-label="Loading the visual editor" />
    </Center>
  ),
});

type Problem = { line: number | null; part: string; message: string };

/** The API's template errors: each detail names its part and line. */
export function templateProblems(error: unknown): Problem[] {
  if (!(error instanceof ApiError)) return [];
  return error.details.map((d: ErrorDetail & { line?: number | null }) => ({
    line: typeof d.line === "number" ? d.line : null,
    part: (d.loc ?? []).filter((p) => p !== "body").join(".") || d.field || "template",
    message: d.message,
  }));
}

type Draft = {
  name: string;
  kind: TemplateKind;
  role: TemplateRole;
  subject: string;
  preheader: string;
  layoutId: string | null;
  source: string;
};

const EMPTY: Draft = { name: "", kind: "mjml", role: "template", subject: "", preheader: "", layoutId: null, source: STARTER_MJML };

export function TemplateEditor({ id }: { id: string | null }) {
  const router = useRouter();
  const template = useTemplate(id);
  const [draft, setDraft] = useState<Draft>(EMPTY);
  const [loadedFor, setLoadedFor] = useState<string | null>(null);
  const [tab, setTab] = useState<string | null>("code");
  const editor = useRef<CodeEditorHandle>(null);
  const save = useSaveTemplate(id);
  const layouts = useTemplates("layout");

  useEffect(() => {
    if (id && template.data && loadedFor !== id) {
      const t = template.data;
      setDraft({
        name: t.name,
        kind: t.kind,
        role: t.role,
        subject: t.subject,
        preheader: t.preheader,
        layoutId: t.layout_id,
        source: t.source,
      });
      setLoadedFor(id);
    }
  }, [id, template.data, loadedFor]);

  const set = <K extends keyof Draft>(key: K, value: Draft[K]) => {
    // A save error belongs to the content it was about: clear it on the next edit.
    if (save.error) save.reset();
    setDraft((d) => ({ ...d, [key]: value }));
  };

  const body: ValidateRequest = useMemo(
    () => ({
      source: draft.source,
      subject: draft.subject,
      preheader: draft.preheader,
      kind: draft.kind,
      role: draft.role,
      layout_id: draft.layoutId,
    }),
    [draft.source, draft.subject, draft.preheader, draft.kind, draft.role, draft.layoutId],
  );
  const [debounced] = useDebouncedValue(body, 500);
  const validation = useValidation(id && loadedFor !== id ? null : debounced);
  const problems = templateProblems(validation.error);
  const saveProblems = templateProblems(save.error);
  const lineNumbers = [...problems, ...saveProblems]
    .filter((p) => p.line !== null && p.part.endsWith("source"))
    .map((p) => p.line as number);
  const fieldErrors = save.error instanceof ApiError ? save.error.fieldErrors() : {};

  const dirty =
    !!template.data &&
    (template.data.name !== draft.name ||
      template.data.source !== draft.source ||
      template.data.subject !== draft.subject ||
      template.data.preheader !== draft.preheader ||
      template.data.layout_id !== draft.layoutId);

  const submit = async (override?: Partial<Draft>) => {
    const d = { ...draft, ...override };
    try {
      const saved = await save.mutateAsync(
        id
          ? {
              name: d.name,
              source: d.source,
              subject: d.subject,
              preheader: d.preheader,
              layout_id: d.layoutId ?? undefined,
              clear_layout: !d.layoutId && !!template.data?.layout_id,
            }
          : {
              name: d.name,
              kind: d.kind,
              role: d.role,
              source: d.source,
              subject: d.subject,
              preheader: d.preheader,
              layout_id: d.layoutId,
            },
      );
      if (override) setDraft(d);
      notifications.show({ color: "green", message: `Saved “${saved.name}” as version ${saved.current_version}` });
      if (!id) {
        setLoadedFor(saved.id);
        router.replace(`/templates/edit/?id=${saved.id}`);
      }
    } catch {
      // shown next to the Save button and in the problem list
    }
  };

  if (id && template.isPending) {
    return (
      <Center p="xl">
        <Loader aria-label="Loading the template" />
      </Center>
    );
  }
  if (id && template.isError) {
    return <ErrorAlert error={template.error} title="The template could not be loaded" />;
  }

  const layoutOptions = (layouts.data?.items ?? [])
    .filter((l) => l.kind === draft.kind && l.id !== id)
    .map((l) => ({ value: l.id, label: l.name }));
  const allProblems = [...saveProblems, ...problems.filter((p) => !saveProblems.some((s) => s.message === p.message))];

  return (
    <>
      <PageHeader
        title={id ? draft.name || "Template" : "New template"}
        description={id && template.data ? `Version ${template.data.current_version} · ${draft.kind.toUpperCase()} · ${draft.role}` : undefined}
        actions={
          <>
            {id && draft.kind === "mjml" ? (
              <Button
                variant="light"
                component={Link}
                href={`/assistant/?template_id=${id}`}
                leftSection={<IconSparkles size={16} />}
              >
                Improve with AI
              </Button>
            ) : null}
            <Button variant="default" component={Link} href="/templates/">
              All templates
            </Button>
          </>
        }
      />
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
        aria-label="Template"
        noValidate
      >
        <Grid gutter="md">
          <Grid.Col span={{ base: 12, md: 6 }}>
            <TextInput
              label="Name"
              required
              value={draft.name}
              onChange={(e) => set("name", e.currentTarget.value)}
              error={fieldErrors.name}
              data-testid="template-name"
            />
          </Grid.Col>
          <Grid.Col span={{ base: 12, sm: 6, md: 3 }}>
            <Stack gap={4}>
              <Text size="sm" fw={500} id="template-kind-label">
                Kind
              </Text>
              <SegmentedControl
                aria-labelledby="template-kind-label"
                disabled={!!id}
                value={draft.kind}
                onChange={(v) => {
                  const kind = v as TemplateKind;
                  setDraft((d) => ({
                    ...d,
                    kind,
                    layoutId: null,
                    source: d.source === STARTER_MJML || d.source === STARTER_HTML ? (kind === "mjml" ? STARTER_MJML : STARTER_HTML) : d.source,
                  }));
                }}
                data={[
                  { value: "mjml", label: "MJML" },
                  { value: "html", label: "HTML" },
                ]}
                data-testid="template-kind"
              />
            </Stack>
          </Grid.Col>
          <Grid.Col span={{ base: 12, sm: 6, md: 3 }}>
            <Select
              label="Role"
              disabled={!!id}
              allowDeselect={false}
              value={draft.role}
              onChange={(v) => v && set("role", v as TemplateRole)}
              data={[
                { value: "template", label: "Template (a message)" },
                { value: "layout", label: "Layout (a frame)" },
                { value: "block", label: "Block (a snippet)" },
              ]}
              data-testid="template-role"
            />
          </Grid.Col>
          {draft.role === "template" ? (
            <>
              <Grid.Col span={{ base: 12, md: 5 }}>
                <TextInput
                  label="Subject"
                  description="Merge tags work here too"
                  value={draft.subject}
                  onChange={(e) => set("subject", e.currentTarget.value)}
                  error={fieldErrors.subject}
                  data-testid="template-subject"
                />
              </Grid.Col>
              <Grid.Col span={{ base: 12, md: 4 }}>
                <TextInput
                  label="Preheader"
                  description="Preview text after the subject"
                  value={draft.preheader}
                  onChange={(e) => set("preheader", e.currentTarget.value)}
                  error={fieldErrors.preheader}
                  data-testid="template-preheader"
                />
              </Grid.Col>
              <Grid.Col span={{ base: 12, md: 3 }}>
                <Select
                  label="Layout"
                  description="Optional frame"
                  clearable
                  placeholder="None"
                  value={draft.layoutId}
                  onChange={(v) => set("layoutId", v)}
                  data={layoutOptions}
                  error={fieldErrors.layout_id}
                  data-testid="template-layout"
                />
              </Grid.Col>
            </>
          ) : null}
        </Grid>

        <Group mt="md" gap="sm" align="center">
          <Button type="submit" loading={save.isPending} disabled={!!id && !dirty} data-testid="template-save">
            {id ? "Save new version" : "Create template"}
          </Button>
          {id && !dirty ? (
            <Text size="sm" c="dimmed" data-testid="template-saved">
              All changes saved
            </Text>
          ) : null}
        </Group>
        {save.error ? (
          <Stack mt="sm">
            <ErrorAlert error={save.error} testId="template-save-error" />
          </Stack>
        ) : null}
      </form>

      <Tabs value={tab} onChange={setTab} mt="lg" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="code">Code</Tabs.Tab>
          <Tabs.Tab value="visual" disabled={draft.kind !== "mjml"}>
            Visual editor
          </Tabs.Tab>
          <Tabs.Tab value="versions" disabled={!id}>
            Versions
          </Tabs.Tab>
        </Tabs.List>

        <Tabs.Panel value="code" pt="md">
          <Grid gutter="md">
            <Grid.Col span={{ base: 12, lg: 6 }}>
              <CodeEditor
                ref={editor}
                value={draft.source}
                onChange={(v) => set("source", v)}
                kind={draft.kind}
                errorLineNumbers={lineNumbers}
                label={`${draft.kind.toUpperCase()} source`}
              />
              <Group mt="xs" gap="xs" aria-live="polite">
                {validation.isFetching ? (
                  <Text size="sm" c="dimmed">
                    Checking…
                  </Text>
                ) : validation.isError ? (
                  <Badge color="red" leftSection={<IconAlertTriangle size={12} />} data-testid="template-status">
                    {allProblems.length || 1} problem{allProblems.length === 1 ? "" : "s"}
                  </Badge>
                ) : validation.data ? (
                  <Badge color="green" leftSection={<IconCheck size={12} />} data-testid="template-status">
                    Compiles and renders
                  </Badge>
                ) : null}
              </Group>
              {validation.isError || saveProblems.length ? (
                <Alert color="red" variant="light" mt="xs" title="Problems" role="alert" data-testid="template-errors">
                  {allProblems.length ? (
                    <List size="sm" spacing={4}>
                      {allProblems.map((p, i) => (
                        <List.Item key={i}>
                          {p.line !== null && p.part.endsWith("source") ? (
                            <UnstyledButton
                              onClick={() => editor.current?.goToLine(p.line as number)}
                              style={{ textDecoration: "underline", fontWeight: 600 }}
                              aria-label={`Go to line ${p.line}`}
                            >
                              Line {p.line}
                            </UnstyledButton>
                          ) : (
                            <Text span fw={600}>
                              {p.part}
                            </Text>
                          )}
                          : {p.message}
                        </List.Item>
                      ))}
                    </List>
                  ) : (
                    <ErrorAlert error={validation.error} />
                  )}
                </Alert>
              ) : null}
              <Text size="xs" c="dimmed" mt="xs">
                Merge tags: <code>{"{{ contact.first_name | default(\"there\") }}"}</code>, <code>{"{{ unsubscribe_url }}"}</code>,{" "}
                <code>{"{{ workspace.postal_address }}"}</code>; blocks with <code>{'{% include "footer" %}'}</code>. See{" "}
                <Anchor href="/api/docs" target="_blank" size="xs">
                  the API docs
                </Anchor>
                .
              </Text>
            </Grid.Col>
            <Grid.Col span={{ base: 12, lg: 6 }}>
              {validation.data ? (
                <PreviewFrame html={validation.data.html} text={validation.data.text} subject={validation.data.subject} />
              ) : validation.isPending && validation.fetchStatus !== "idle" ? (
                <Center p="xl">
                  <Loader aria-label="Rendering the preview" />
                </Center>
              ) : (
                <Text c="dimmed">The preview appears here once the template compiles.</Text>
              )}
            </Grid.Col>
          </Grid>
        </Tabs.Panel>

        <Tabs.Panel value="visual" pt="md">
          {draft.kind === "mjml" ? (
            <VisualEditor
              source={draft.source}
              saving={save.isPending}
              onApply={(mjml) => set("source", mjml)}
              onSave={(mjml) => void submit({ source: mjml })}
              canSave={!!draft.name}
            />
          ) : null}
        </Tabs.Panel>

        <Tabs.Panel value="versions" pt="md">
          {id ? (
            <TemplateVersions
              id={id}
              current={template.data?.current_version ?? 1}
              onRestore={(v) => void submit({ source: v.source, subject: v.subject, preheader: v.preheader, layoutId: v.layout_id })}
            />
          ) : null}
        </Tabs.Panel>
      </Tabs>
    </>
  );
}
