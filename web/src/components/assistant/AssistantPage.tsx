"use client";
// The AI assistant: a draft from a brief, a revision of a template (rewrite, shorten,
// translate, tone), ranked subject lines, and the suggestions waiting for a decision.
import {
  Badge,
  Button,
  Center,
  Grid,
  Group,
  Loader,
  NumberInput,
  Paper,
  SegmentedControl,
  Select,
  Stack,
  Table,
  Tabs,
  Text,
  TextInput,
  Textarea,
  Title,
} from "@mantine/core";
import { useForm } from "@mantine/form";
import { useState } from "react";

import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { useTemplates } from "@/components/templates/api";
import { when } from "@/components/templates/TemplateList";

import {
  useAiTask,
  useSuggestions,
  type CampaignDraft,
  type RevisedTemplate,
  type Suggestion,
  type SubjectLineSuggestions,
} from "./api";
import { DraftResult, RevisionResult, SubjectLineList, TaskError, TaskProgress } from "./parts";

const LANGUAGES = [
  { value: "en", label: "English" },
  { value: "de", label: "German" },
  { value: "fr", label: "French" },
  { value: "es", label: "Spanish" },
  { value: "it", label: "Italian" },
  { value: "nl", label: "Dutch" },
  { value: "pt", label: "Portuguese" },
  { value: "pl", label: "Polish" },
  { value: "sv", label: "Swedish" },
  { value: "ja", label: "Japanese" },
];

function short(text: string, max = 48): string {
  const t = text.trim().replace(/\s+/g, " ");
  return t.length > max ? `${t.slice(0, max - 1)}…` : t;
}

function DraftTab() {
  const task = useAiTask("drafts");
  const form = useForm({
    initialValues: { brief: "", audience: "", tone: "", language: "en", subject_variants: 5 },
    validate: { brief: (v) => (v.trim() ? null : "Describe the campaign you want") },
  });
  const draft = task.result?.result as CampaignDraft | undefined;
  return (
    <Grid gutter="lg">
      <Grid.Col span={{ base: 12, md: 5 }}>
        <form onSubmit={form.onSubmit((v) => void task.run(v))} aria-label="Draft a campaign" noValidate>
          <Stack>
            <Textarea
              label="Brief"
              description="What the email is about, the offer, the call to action"
              autosize
              minRows={5}
              required
              data-testid="ai-brief"
              {...form.getInputProps("brief")}
            />
            <TextInput label="Audience" placeholder="e.g. customers who bought in the last year" {...form.getInputProps("audience")} />
            <TextInput label="Tone" placeholder="e.g. warm, concise" {...form.getInputProps("tone")} />
            <Group grow>
              <Select label="Language" data={LANGUAGES} allowDeselect={false} searchable {...form.getInputProps("language")} />
              <NumberInput label="Subject lines" min={1} max={10} {...form.getInputProps("subject_variants")} />
            </Group>
            <Group>
              <Button type="submit" loading={task.running} data-testid="ai-draft-submit">
                Write a draft
              </Button>
              {task.running ? (
                <Button variant="subtle" onClick={task.stop}>
                  Stop
                </Button>
              ) : null}
            </Group>
            <TaskError error={task.error} />
          </Stack>
        </form>
      </Grid.Col>
      <Grid.Col span={{ base: 12, md: 7 }}>
        <Stack>
          <TaskProgress events={task.events} running={task.running} />
          {task.result && draft ? <DraftResult suggestionId={task.result.suggestion_id} draft={draft} name={`Draft: ${short(form.values.brief)}`} /> : null}
        </Stack>
      </Grid.Col>
    </Grid>
  );
}

type Mode = "rewrite" | "shorten" | "translate" | "tone";

function ReviseTab({ initialTemplateId }: { initialTemplateId: string | null }) {
  const task = useAiTask("revisions");
  const templates = useTemplates("template");
  const mjmlTemplates = (templates.data?.items ?? []).filter((t) => t.kind === "mjml");
  const form = useForm({
    initialValues: {
      template_id: initialTemplateId,
      mode: "rewrite" as Mode,
      target_language: "de",
      tone: "",
      instructions: "",
    },
    validate: {
      template_id: (v) => (v ? null : "Choose a template"),
      tone: (v, values) => (values.mode === "tone" && !v.trim() ? "Say which tone" : null),
    },
  });
  const revised = task.result?.result as RevisedTemplate | undefined;
  const chosen = mjmlTemplates.find((t) => t.id === form.values.template_id);
  return (
    <Grid gutter="lg">
      <Grid.Col span={{ base: 12, md: 5 }}>
        <form
          aria-label="Revise a template"
          noValidate
          onSubmit={form.onSubmit((v) =>
            void task.run({
              template_id: v.template_id,
              mode: v.mode,
              target_language: v.mode === "translate" ? v.target_language : "",
              tone: v.mode === "tone" ? v.tone : "",
              instructions: v.instructions,
            }),
          )}
        >
          <Stack>
            <Select
              label="Template"
              description="MJML templates; the newest version is revised"
              searchable
              required
              data={mjmlTemplates.map((t) => ({ value: t.id, label: t.name }))}
              data-testid="ai-revise-template"
              {...form.getInputProps("template_id")}
            />
            <ErrorAlert error={templates.error} />
            <Stack gap={4}>
              <Text size="sm" fw={500} id="ai-mode-label">
                What to do
              </Text>
              <SegmentedControl
                aria-labelledby="ai-mode-label"
                value={form.values.mode}
                onChange={(m) => form.setFieldValue("mode", m as Mode)}
                data={[
                  { value: "rewrite", label: "Rewrite" },
                  { value: "shorten", label: "Shorten" },
                  { value: "translate", label: "Translate" },
                  { value: "tone", label: "Tone" },
                ]}
                data-testid="ai-revise-mode"
              />
            </Stack>
            {form.values.mode === "translate" ? (
              <Select label="Into" data={LANGUAGES} allowDeselect={false} searchable {...form.getInputProps("target_language")} />
            ) : null}
            {form.values.mode === "tone" ? <TextInput label="Tone" placeholder="e.g. playful, formal" required {...form.getInputProps("tone")} /> : null}
            <Textarea label="Instructions" description="Anything else the writer should know" autosize minRows={2} {...form.getInputProps("instructions")} />
            <Group>
              <Button type="submit" loading={task.running} data-testid="ai-revise-submit">
                Revise
              </Button>
              {task.running ? (
                <Button variant="subtle" onClick={task.stop}>
                  Stop
                </Button>
              ) : null}
            </Group>
            <TaskError error={task.error} />
          </Stack>
        </form>
      </Grid.Col>
      <Grid.Col span={{ base: 12, md: 7 }}>
        <Stack>
          <TaskProgress events={task.events} running={task.running} />
          {task.result && revised ? (
            <RevisionResult
              suggestionId={task.result.suggestion_id}
              revised={revised}
              name={`${chosen?.name ?? "Template"} (${form.values.mode === "translate" ? form.values.target_language : form.values.mode})`}
            />
          ) : null}
        </Stack>
      </Grid.Col>
    </Grid>
  );
}

function SubjectsTab() {
  const task = useAiTask("subject-lines");
  const form = useForm({
    initialValues: { brief: "", count: 5, language: "en" },
    validate: { brief: (v) => (v.trim() ? null : "Describe the email, or paste its text") },
  });
  const lines = task.result?.result as SubjectLineSuggestions | undefined;
  return (
    <Grid gutter="lg">
      <Grid.Col span={{ base: 12, md: 5 }}>
        <form onSubmit={form.onSubmit((v) => void task.run(v))} aria-label="Suggest subject lines" noValidate>
          <Stack>
            <Textarea label="Brief or email text" autosize minRows={4} required data-testid="ai-subjects-brief" {...form.getInputProps("brief")} />
            <Group grow>
              <NumberInput label="How many" min={1} max={10} {...form.getInputProps("count")} />
              <Select label="Language" data={LANGUAGES} allowDeselect={false} searchable {...form.getInputProps("language")} />
            </Group>
            <Group>
              <Button type="submit" loading={task.running} data-testid="ai-subjects-submit">
                Suggest subject lines
              </Button>
            </Group>
            <TaskError error={task.error} />
          </Stack>
        </form>
      </Grid.Col>
      <Grid.Col span={{ base: 12, md: 7 }}>
        <Stack>
          <TaskProgress events={task.events} running={task.running} />
          {lines ? (
            <>
              <Title order={3} size="h5">
                Ranked, best first
              </Title>
              <SubjectLineList items={lines.items} />
            </>
          ) : null}
        </Stack>
      </Grid.Col>
    </Grid>
  );
}

const KIND_LABELS: Record<string, string> = {
  draft_campaign: "Draft",
  revise_template: "Revision",
  subject_lines: "Subject lines",
  personalisation: "Personalisation",
};

function SuggestionDetail({ suggestion }: { suggestion: Suggestion }) {
  const name = `${KIND_LABELS[suggestion.kind] ?? suggestion.kind} ${new Date(suggestion.created_at).toLocaleDateString()}`;
  if (suggestion.status !== "ready") {
    return (
      <Text size="sm" c="dimmed">
        {suggestion.status === "accepted" ? "Accepted" : "Discarded"} {when(suggestion.decided_at)}.
      </Text>
    );
  }
  if (suggestion.kind === "draft_campaign") return <DraftResult suggestionId={suggestion.id} draft={suggestion.result as unknown as CampaignDraft} name={name} />;
  if (suggestion.kind === "revise_template") return <RevisionResult suggestionId={suggestion.id} revised={suggestion.result as unknown as RevisedTemplate} name={name} />;
  if (suggestion.kind === "subject_lines") return <SubjectLineList items={(suggestion.result as unknown as SubjectLineSuggestions).items ?? []} />;
  return (
    <Text component="pre" size="xs" style={{ whiteSpace: "pre-wrap" }}>
      {JSON.stringify(suggestion.result, null, 2)}
    </Text>
  );
}

function SuggestionsTab() {
  const [status, setStatus] = useState<string>("ready");
  const suggestions = useSuggestions(status === "all" ? undefined : status);
  const [open, setOpen] = useState<string | null>(null);
  const items = suggestions.data?.items ?? [];
  const selected = items.find((s) => s.id === open);
  return (
    <Stack>
      <SegmentedControl
        aria-label="Which suggestions"
        value={status}
        onChange={setStatus}
        maw={420}
        data={[
          { value: "ready", label: "Waiting" },
          { value: "accepted", label: "Accepted" },
          { value: "discarded", label: "Discarded" },
          { value: "all", label: "All" },
        ]}
      />
      <ErrorAlert error={suggestions.error} />
      {suggestions.isPending ? (
        <Center p="md">
          <Loader aria-label="Loading suggestions" />
        </Center>
      ) : items.length ? (
        <Table.ScrollContainer minWidth={520}>
          <Table highlightOnHover data-testid="ai-suggestions">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Kind</Table.Th>
                <Table.Th>Asked</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>When</Table.Th>
                <Table.Th />
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((s) => (
                <Table.Tr key={s.id}>
                  <Table.Td>{KIND_LABELS[s.kind] ?? s.kind}</Table.Td>
                  <Table.Td>{short(String(s.request.brief ?? s.request.mode ?? ""), 60)}</Table.Td>
                  <Table.Td>
                    <Badge variant="light" color={s.status === "ready" ? "blue" : s.status === "accepted" ? "green" : "gray"}>
                      {s.status}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{when(s.created_at)}</Table.Td>
                  <Table.Td>
                    <Button size="compact-xs" variant="light" onClick={() => setOpen(open === s.id ? null : s.id)}>
                      {open === s.id ? "Close" : "Open"}
                    </Button>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : (
        <Text c="dimmed">No suggestions here.</Text>
      )}
      {selected ? (
        <Paper withBorder p="md">
          <SuggestionDetail key={selected.id} suggestion={selected} />
        </Paper>
      ) : null}
    </Stack>
  );
}

export function AssistantPage({ templateId }: { templateId: string | null }) {
  const [tab, setTab] = useState<string | null>(templateId ? "revise" : "draft");
  return (
    <>
      <PageHeader
        title="AI assistant"
        description="Drafts, revisions and subject lines in your brand's voice. Nothing is sent until you accept it into a template and put it in a campaign."
      />
      <Tabs value={tab} onChange={setTab} keepMounted>
        <Tabs.List mb="md">
          <Tabs.Tab value="draft" data-testid="ai-tab-draft">
            Draft from a brief
          </Tabs.Tab>
          <Tabs.Tab value="revise" data-testid="ai-tab-revise">
            Revise a template
          </Tabs.Tab>
          <Tabs.Tab value="subjects" data-testid="ai-tab-subjects">
            Subject lines
          </Tabs.Tab>
          <Tabs.Tab value="suggestions" data-testid="ai-tab-suggestions">
            Suggestions
          </Tabs.Tab>
        </Tabs.List>
        <Tabs.Panel value="draft">
          <DraftTab />
        </Tabs.Panel>
        <Tabs.Panel value="revise">
          <ReviseTab initialTemplateId={templateId} />
        </Tabs.Panel>
        <Tabs.Panel value="subjects">
          <SubjectsTab />
        </Tabs.Panel>
        <Tabs.Panel value="suggestions">{tab === "suggestions" ? <SuggestionsTab /> : null}</Tabs.Panel>
      </Tabs>
    </>
  );
}
