"use client";
// Before sending: what is still missing, the postal address, a content check
// (compliance and SpamAssassin) and a test send.
import { Alert, Badge, Button, Group, List, Paper, Select, Stack, Table, Text, TextInput, Textarea, Title } from "@mantine/core";
import { IconCheck, IconX } from "@tabler/icons-react";
import { useEffect, useState } from "react";

import { ApiError } from "@/api/errors";
import { useMe } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { usePreview } from "@/components/templates/api";
import { ContactPicker } from "@/components/templates/ContactPicker";
import { PreviewFrame } from "@/components/templates/PreviewFrame";

import { useContentCheck, useSavePostalAddress, useSenders, useTestSend, useWorkspaceDetails } from "./api";
import type { WizardValues } from "./wizard";

function Item({ ok, children }: { ok: boolean; children: React.ReactNode }) {
  return (
    <List.Item icon={ok ? <IconCheck size={16} color="green" aria-label="done" /> : <IconX size={16} color="red" aria-label="missing" />}>
      {children}
    </List.Item>
  );
}

export function ChecksStep({ campaignId, values }: { campaignId: string; values: WizardValues }) {
  const workspace = useWorkspaceDetails();
  const senders = useSenders();
  const sender = senders.data?.items.find((s) => s.id === values.sender_id);
  const savePostal = useSavePostalAddress();
  const [postal, setPostal] = useState("");
  useEffect(() => {
    if (workspace.data) setPostal(workspace.data.postal_address ?? "");
  }, [workspace.data]);
  const hasPostal = !!workspace.data?.postal_address?.trim();

  const check = useContentCheck();
  const [contact, setContact] = useState<string | null>(null);
  const preview = usePreview(values.template_id, null, contact, values.subject);

  const me = useMe();
  const [emails, setEmails] = useState("");
  const [variant, setVariant] = useState<string | null>(null);
  useEffect(() => {
    if (!emails && me.data) setEmails(me.data.user.email);
    // eslint-disable-next-line react-hooks/exhaustive-deps -- once, as a suggestion
  }, [me.data]);
  const testSend = useTestSend();
  const addresses = emails
    .split(/[\s,;]+/)
    .map((e) => e.trim())
    .filter(Boolean);

  const checkUnavailable =
    check.error instanceof ApiError && ((check.error.status === 404 && check.error.message.toLowerCase() === "not found") || check.error.status === 405);

  return (
    <Stack maw={960} mt="md">
      <Paper withBorder p="md">
        <Title order={3} size="h5" mb="xs">
          Ready to send?
        </Title>
        <List spacing={4} size="sm" data-testid="campaign-readiness">
          <Item ok={values.list_ids.length + values.segment_ids.length > 0}>An audience (lists or segments)</Item>
          <Item ok={!!values.template_id}>A template</Item>
          <Item ok={!!values.subject.trim()}>A subject</Item>
          <Item ok={!!sender}>
            A sender{sender ? `: ${sender.from_email}` : ""}
            {sender && !sender.verified ? " — its domain is not verified yet (only the outbox accepts its mail)" : ""}
          </Item>
          <Item ok={hasPostal}>The workspace&apos;s postal address (required in every message)</Item>
        </List>
        <Text size="xs" c="dimmed" mt="xs">
          The template also needs a link to <code>{"{{ unsubscribe_url }}"}</code> and to show{" "}
          <code>{"{{ workspace.postal_address }}"}</code>; sending is refused otherwise.
        </Text>
        {!hasPostal && workspace.isSuccess ? (
          <form
            onSubmit={(e) => {
              e.preventDefault();
              savePostal.mutate(postal);
            }}
          >
            <Stack mt="md" gap="xs">
              <Textarea
                label="Postal address"
                description="Shown in every message, as anti-spam law requires"
                autosize
                minRows={2}
                value={postal}
                onChange={(e) => setPostal(e.currentTarget.value)}
                data-testid="campaign-postal-address"
              />
              <Group>
                <Button type="submit" size="xs" loading={savePostal.isPending} disabled={!postal.trim()} data-testid="campaign-postal-save">
                  Save postal address
                </Button>
              </Group>
              <ErrorAlert error={savePostal.error} />
            </Stack>
          </form>
        ) : null}
        <ErrorAlert error={workspace.error} />
      </Paper>

      <Paper withBorder p="md">
        <Group justify="space-between" mb="xs">
          <Title order={3} size="h5">
            Content check
          </Title>
          <Button
            size="xs"
            variant="light"
            loading={check.isPending}
            disabled={!values.template_id}
            onClick={() =>
              check.mutate({ subject: values.subject, preheader: values.preheader, template_id: values.template_id ?? undefined })
            }
            data-testid="campaign-content-check"
          >
            Check content
          </Button>
        </Group>
        <Text size="sm" c="dimmed">
          Unsubscribe link, postal address, spam phrases, links and images, and a SpamAssassin score.
        </Text>
        {checkUnavailable ? (
          <Text size="sm" mt="xs" c="dimmed">
            The content check is not available on this server.
          </Text>
        ) : (
          <Stack mt="xs">
            <ErrorAlert error={check.error} testId="campaign-content-check-error" />
          </Stack>
        )}
        {check.data ? (
          <Stack mt="sm" gap="xs" data-testid="campaign-content-check-result">
            <Group gap="xs">
              <Badge color={check.data.passed ? "green" : "red"}>{check.data.passed ? "Passed" : "Needs changes"}</Badge>
              {check.data.spam ? (
                <Badge color={check.data.spam.is_spam ? "red" : "gray"} variant="light">
                  SpamAssassin {check.data.spam.score.toFixed(1)} / {check.data.spam.threshold.toFixed(1)}
                </Badge>
              ) : (
                <Text size="xs" c="dimmed">
                  SpamAssassin did not answer; compliance checks only.
                </Text>
              )}
            </Group>
            {check.data.findings?.length ? (
              <List size="sm" spacing={2}>
                {check.data.findings.map((f, i) => (
                  <List.Item key={i}>
                    <Badge size="xs" color={f.severity === "error" ? "red" : "yellow"} mr={6}>
                      {f.severity}
                    </Badge>
                    {f.message}
                    {f.where ? <Text span c="dimmed"> ({f.where})</Text> : null}
                  </List.Item>
                ))}
              </List>
            ) : (
              <Text size="sm">No findings.</Text>
            )}
            {check.data.spam?.rules?.length ? (
              <Text size="xs" c="dimmed">
                Rules: {check.data.spam.rules.map((r) => `${r.name} (${r.score})`).join(", ")}
              </Text>
            ) : null}
          </Stack>
        ) : null}
      </Paper>

      <Paper withBorder p="md">
        <Title order={3} size="h5" mb="xs">
          Test send
        </Title>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            if (addresses.length) testSend.mutate({ id: campaignId, emails: addresses, variant: variant ?? undefined });
          }}
        >
          <Group align="flex-end" wrap="wrap">
            <TextInput
              label="Send a test to"
              description="Up to 10 addresses, separated by commas; not counted in the report"
              value={emails}
              onChange={(e) => setEmails(e.currentTarget.value)}
              style={{ flex: 1, minWidth: 240 }}
              error={addresses.length > 10 ? "At most 10 addresses" : undefined}
              data-testid="campaign-test-emails"
            />
            {values.ab_enabled ? (
              <Select
                label="Variant"
                placeholder="A"
                clearable
                w={120}
                value={variant}
                onChange={setVariant}
                data={values.variants.map((_, i) => "ABCDE"[i])}
              />
            ) : null}
            <Button type="submit" loading={testSend.isPending} disabled={!addresses.length || addresses.length > 10} data-testid="campaign-test-send">
              Send test
            </Button>
          </Group>
        </form>
        <Stack mt="xs">
          <ErrorAlert error={testSend.error} testId="campaign-test-send-error" />
        </Stack>
        {testSend.data ? (
          <Table mt="sm" data-testid="campaign-test-send-results">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Address</Table.Th>
                <Table.Th>Outcome</Table.Th>
                <Table.Th>Detail</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {testSend.data.results.map((r) => (
                <Table.Tr key={r.email}>
                  <Table.Td>{r.email}</Table.Td>
                  <Table.Td>
                    <Badge color={r.outcome === "sent" ? "green" : "red"} variant="light">
                      {r.outcome}
                    </Badge>
                  </Table.Td>
                  <Table.Td>{r.detail || (r.code ?? "")}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        ) : null}
      </Paper>

      <Paper withBorder p="md">
        <Group justify="space-between" align="flex-end" mb="xs" wrap="wrap">
          <Title order={3} size="h5">
            Preview
          </Title>
          <ContactPicker value={contact} onChange={setContact} />
        </Group>
        <ErrorAlert error={preview.error} />
        {preview.data ? (
          <PreviewFrame html={preview.data.html} text={preview.data.text} subject={preview.data.subject} testId="campaign-preview" height={480} />
        ) : !values.template_id ? (
          <Alert color="gray">Choose a template in the Content step.</Alert>
        ) : null}
      </Paper>
    </Stack>
  );
}
