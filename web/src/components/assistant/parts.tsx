"use client";
// Pieces the assistant's tabs share: the streamed progress, errors, checks, results
// and the accept / discard controls.
import {
  Alert,
  Anchor,
  Badge,
  Button,
  CopyButton,
  Group,
  List,
  Loader,
  Paper,
  Progress,
  Radio,
  Stack,
  Text,
  TextInput,
  Timeline,
  Title,
} from "@mantine/core";
import { IconAlertTriangle, IconCheck, IconCircleDot, IconRobot } from "@tabler/icons-react";
import Link from "next/link";
import { useState } from "react";

import { ApiError, errorMessage } from "@/api/errors";
import { PreviewFrame } from "@/components/templates/PreviewFrame";

import {
  TaskFailed,
  useAcceptSuggestion,
  useDiscardSuggestion,
  type AIEvent,
  type CampaignDraft,
  type CheckReport,
  type RevisedTemplate,
  type SubjectLine,
  type Usage,
} from "./api";

export function TaskProgress({ events, running }: { events: AIEvent[]; running: boolean }) {
  if (!events.length && !running) return null;
  return (
    <Paper withBorder p="md" data-testid="ai-progress" aria-live="polite" aria-busy={running}>
      <Group mb="sm" gap="xs">
        <Title order={3} size="h5">
          Progress
        </Title>
        {running ? <Loader size="xs" aria-label="Working" /> : null}
      </Group>
      <Timeline active={events.length - 1} bulletSize={20} lineWidth={2}>
        {events.map((e, i) => (
          <Timeline.Item
            key={`${e.seq ?? i}`}
            bullet={e.kind === "check" ? <IconCheck size={12} /> : e.agent ? <IconRobot size={12} /> : <IconCircleDot size={12} />}
            title={
              <Group gap={6}>
                <Text size="sm" fw={600}>
                  {e.agent || "Maily"}
                </Text>
                <Badge size="xs" variant="light">
                  {e.kind}
                </Badge>
              </Group>
            }
          >
            <Text size="sm" c="dimmed">
              {e.message}
            </Text>
          </Timeline.Item>
        ))}
      </Timeline>
      {running && !events.length ? (
        <Text size="sm" c="dimmed">
          Starting…
        </Text>
      ) : null}
    </Paper>
  );
}

/** 503: the AI service or every model provider is down; the message says which. */
export function TaskError({ error }: { error: unknown }) {
  if (!error) return null;
  const unavailable = error instanceof ApiError && error.status === 503;
  // A route that does not exist answers Starlette's own "Not Found" (a missing record
  // names what is missing instead).
  if (error instanceof ApiError && error.status === 404 && error.message.toLowerCase() === "not found") {
    return (
      <Alert color="orange" variant="light" role="alert" title="The AI assistant is not available on this server" data-testid="ai-error">
        This Maily has no AI routes yet.
      </Alert>
    );
  }
  const title = unavailable
    ? "The AI assistant is not available right now"
    : error instanceof TaskFailed
      ? "The assistant could not finish"
      : "The request was refused";
  return (
    <Alert color={unavailable ? "orange" : "red"} variant="light" role="alert" title={title} icon={<IconAlertTriangle size={18} />} data-testid="ai-error">
      {errorMessage(error)}
      {unavailable ? (
        <Text size="sm" mt={4}>
          Check the model providers in <Anchor href="/settings/ai-providers/">AI providers</Anchor>, or try again in a moment.
        </Text>
      ) : null}
    </Alert>
  );
}

export function ChecksView({ checks }: { checks: CheckReport | undefined }) {
  if (!checks) return null;
  return (
    <Stack gap={4} data-testid="ai-checks">
      <Group gap="xs">
        <Badge color={checks.passed ? "green" : "red"}>{checks.passed ? "Checks passed" : "Checks found problems"}</Badge>
        {checks.spam ? (
          <Badge variant="light" color={checks.spam.is_spam ? "red" : "gray"}>
            SpamAssassin {checks.spam.score.toFixed(1)} / {checks.spam.threshold.toFixed(1)}
          </Badge>
        ) : null}
      </Group>
      {checks.findings.length ? (
        <List size="sm" spacing={2}>
          {checks.findings.map((f, i) => (
            <List.Item key={i}>
              <Badge size="xs" color={f.severity === "error" ? "red" : "yellow"} mr={6}>
                {f.severity}
              </Badge>
              {f.message}
              {f.where ? <Text span c="dimmed"> ({f.where})</Text> : null}
            </List.Item>
          ))}
        </List>
      ) : null}
    </Stack>
  );
}

export function UsageLine({ usage }: { usage: Usage | undefined }) {
  if (!usage || !usage.requests) return null;
  return (
    <Text size="xs" c="dimmed">
      {usage.requests} model call{usage.requests === 1 ? "" : "s"}, {(usage.input_tokens ?? 0) + (usage.output_tokens ?? 0)} tokens
      {usage.cost_usd ? `, $${usage.cost_usd.toFixed(4)}` : ""}
      {usage.models?.length ? ` · ${usage.models.join(", ")}` : ""}
    </Text>
  );
}

export function SubjectLineList({
  items,
  chosen,
  onChoose,
}: {
  items: SubjectLine[];
  chosen?: number;
  onChoose?: (index: number) => void;
}) {
  const rows = items.map((s, i) => (
    <Paper key={i} withBorder p="sm" data-testid="ai-subject-line">
      <Group justify="space-between" wrap="nowrap" align="flex-start">
        <Stack gap={2} style={{ flex: 1 }}>
          {onChoose ? (
            <Radio value={String(i)} label={<Text fw={600}>{`${i + 1}. ${s.text}`}</Text>} />
          ) : (
            <Text fw={600}>
              {i + 1}. {s.text}
            </Text>
          )}
          {s.preheader ? (
            <Text size="sm" c="dimmed">
              Preheader: {s.preheader}
            </Text>
          ) : null}
          {s.rationale ? <Text size="xs">{s.rationale}</Text> : null}
          <Progress value={s.score * 100} size="sm" aria-label={`Score ${Math.round(s.score * 100)} of 100`} maw={240} />
        </Stack>
        <CopyButton value={s.text}>
          {({ copied, copy }) => (
            <Button size="compact-xs" variant="subtle" onClick={copy}>
              {copied ? "Copied" : "Copy"}
            </Button>
          )}
        </CopyButton>
      </Group>
    </Paper>
  ));
  if (!onChoose) return <Stack gap="xs">{rows}</Stack>;
  return (
    <Radio.Group value={String(chosen ?? 0)} onChange={(v) => onChoose(Number(v))} label="Subject line for the template" aria-label="Subject line for the template">
      <Stack gap="xs" mt="xs">
        {rows}
      </Stack>
    </Radio.Group>
  );
}

/** Accept (a new template is made from it) or discard a suggestion. */
export function AcceptBar({ suggestionId, subjectIndex, defaultName }: { suggestionId: string; subjectIndex?: number; defaultName: string }) {
  const accept = useAcceptSuggestion();
  const discard = useDiscardSuggestion();
  const [name, setName] = useState(defaultName);
  if (accept.data) {
    return (
      <Alert color="green" data-testid="ai-accepted">
        Saved as a template.{" "}
        <Anchor component={Link} href={`/templates/edit/?id=${accept.data.template_id}`} data-testid="ai-accepted-template">
          Open it in the editor
        </Anchor>
        .
      </Alert>
    );
  }
  if (discard.data) return <Alert color="gray">Discarded.</Alert>;
  return (
    <form
      onSubmit={(e) => {
        e.preventDefault();
        accept.mutate({ id: suggestionId, subject_index: subjectIndex, name });
      }}
    >
      <Group align="flex-end" wrap="wrap">
        <TextInput label="Template name" value={name} onChange={(e) => setName(e.currentTarget.value)} style={{ flex: 1, minWidth: 220 }} data-testid="ai-accept-name" />
        <Button type="submit" loading={accept.isPending} data-testid="ai-accept">
          Accept as a template
        </Button>
        <Button variant="default" loading={discard.isPending} onClick={() => discard.mutate(suggestionId)} data-testid="ai-discard">
          Discard
        </Button>
      </Group>
      {accept.error || discard.error ? (
        <Alert color="red" variant="light" mt="sm" role="alert">
          {errorMessage(accept.error ?? discard.error)}
        </Alert>
      ) : null}
      <Text size="xs" c="dimmed" mt={4}>
        Nothing generated is sent until it is a template you put in a campaign.
      </Text>
    </form>
  );
}

export function DraftResult({ suggestionId, draft, name }: { suggestionId: string; draft: CampaignDraft; name: string }) {
  const [subject, setSubject] = useState(0);
  return (
    <Stack data-testid="ai-draft-result">
      {draft.budget_exhausted ? (
        <Alert color="yellow">The budget ran out with checks still failing; review the problems below before using it.</Alert>
      ) : null}
      <SubjectLineList items={draft.subject_lines} chosen={subject} onChoose={setSubject} />
      <Text size="sm">
        <strong>Preheader:</strong> {draft.preheader}
      </Text>
      <ChecksView checks={draft.checks} />
      <Text size="xs" c="dimmed">
        {draft.iterations} writer–critic round{draft.iterations === 1 ? "" : "s"}
      </Text>
      <UsageLine usage={draft.usage} />
      <PreviewFrame html={draft.html} text={draft.text} subject={draft.subject_lines[subject]?.text} testId="ai-preview" height={480} />
      <AcceptBar suggestionId={suggestionId} subjectIndex={subject} defaultName={name} />
    </Stack>
  );
}

export function RevisionResult({ suggestionId, revised, name }: { suggestionId: string; revised: RevisedTemplate; name: string }) {
  return (
    <Stack data-testid="ai-revision-result">
      <Text size="sm">
        <strong>Subject:</strong> {revised.subject || "—"}
      </Text>
      {revised.notes ? (
        <Text size="sm">
          <strong>Notes:</strong> {revised.notes}
        </Text>
      ) : null}
      <ChecksView checks={revised.checks} />
      <UsageLine usage={revised.usage} />
      <PreviewFrame html={revised.html} text={revised.text} subject={revised.subject} testId="ai-preview" height={480} />
      <AcceptBar suggestionId={suggestionId} defaultName={name} />
    </Stack>
  );
}
