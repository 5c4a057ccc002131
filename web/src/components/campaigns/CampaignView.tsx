"use client";
// One campaign: its state and delivery progress, live over the workspace's WebSocket,
// with the controls its state allows (pause, resume, cancel, unschedule, A/B winner).
import {
  Anchor,
  Badge,
  Button,
  Center,
  Grid,
  Group,
  Loader,
  Modal,
  Paper,
  Progress,
  SimpleGrid,
  Stack,
  Table,
  Text,
  Title,
} from "@mantine/core";
import { useDisclosure } from "@mantine/hooks";
import { notifications } from "@mantine/notifications";
import { IconChartBar, IconCopy, IconPlayerPause, IconPlayerPlay, IconPlayerStop, IconTrash } from "@tabler/icons-react";
import { useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useRouter } from "next/navigation";
import { useCallback, useState } from "react";

import { useLive, type LiveMessage } from "@/api/live";
import { useWorkspaceId } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { useTemplate } from "@/components/templates/api";
import { when } from "@/components/templates/TemplateList";

import { useCampaign, useCampaignAction, useChooseWinner, useDeleteCampaign, useProgress, useSenders, type CampaignOut } from "./api";
import { StatusBadge } from "./CampaignList";

const PENDING = ["queued", "leased", "deferred"];
const SECTIONS: { key: string; label: string; color: string }[] = [
  { key: "sent", label: "Sent", color: "green" },
  { key: "bounced", label: "Bounced", color: "orange" },
  { key: "failed", label: "Failed", color: "red" },
  { key: "unknown", label: "Unknown", color: "grape" },
  { key: "skipped", label: "Skipped", color: "gray" },
  { key: "deferred", label: "Deferred (retrying)", color: "yellow" },
  { key: "leased", label: "Being sent", color: "indigo.3" },
  { key: "queued", label: "Queued", color: "gray.3" },
];

type FeedItem = { at: string; text: string };

function describe(message: LiveMessage): string | null {
  if (message.type === "campaign.state") {
    const reason = message.reason ? ` (${String(message.reason)})` : "";
    return `now ${String(message.state)}${reason}`;
  }
  if (message.type === "campaign.progress") {
    const changed = (message.changed ?? message.counters) as Record<string, number> | undefined;
    if (!changed) return null;
    const parts = Object.entries(changed)
      .filter(([, n]) => n)
      .map(([k, n]) => `${n} ${k}`);
    return parts.length ? parts.join(", ") : null;
  }
  return null;
}

export function CampaignView({ id }: { id: string }) {
  const ws = useWorkspaceId();
  const router = useRouter();
  const queryClient = useQueryClient();
  const campaign = useCampaign(id);
  const status = campaign.data?.status;
  const active = status === "scheduled" || status === "sending" || status === "paused";
  const progress = useProgress(id, active);
  const action = useCampaignAction();
  const remove = useDeleteCampaign();
  const winner = useChooseWinner();
  const [feed, setFeed] = useState<FeedItem[]>([]);
  const [confirmCancel, cancelModal] = useDisclosure(false);
  const [confirmDelete, deleteModal] = useDisclosure(false);

  const onMessage = useCallback(
    (message: LiveMessage) => {
      if (message.campaign_id !== id) return;
      if (message.type === "campaign.state") {
        queryClient.setQueryData<CampaignOut>(["campaigns", ws, "one", id], (old) =>
          old ? { ...old, status: message.state as CampaignOut["status"] } : old,
        );
        void queryClient.invalidateQueries({ queryKey: ["campaigns", ws, "one", id] });
        void queryClient.invalidateQueries({ queryKey: ["campaigns", ws, "list"] });
      }
      void queryClient.refetchQueries({ queryKey: ["campaigns", ws, "progress", id] }, { cancelRefetch: false });
      const text = describe(message);
      if (text) setFeed((f) => [{ at: new Date().toLocaleTimeString(), text }, ...f].slice(0, 30));
    },
    [id, ws, queryClient],
  );
  const connected = useLive(ws, onMessage);

  const template = useTemplate(campaign.data?.template_id ?? null);
  const senders = useSenders();

  if (campaign.isPending) {
    return (
      <Center p="xl">
        <Loader aria-label="Loading the campaign" />
      </Center>
    );
  }
  if (campaign.isError) return <ErrorAlert error={campaign.error} title="The campaign could not be loaded" />;
  const c = campaign.data;
  const sender = senders.data?.items.find((s) => s.id === c.sender_id);
  const p = progress.data;
  const total = p?.total ?? c.audience_size ?? 0;
  const counts = p?.counts ?? {};
  const pending = PENDING.reduce((n, k) => n + (counts[k] ?? 0), 0);
  const handled = Math.max(0, total - pending);
  const percent = total ? Math.round((handled / total) * 100) : 0;

  const run = async (kind: "pause" | "resume" | "cancel" | "unschedule" | "duplicate") => {
    try {
      const saved = await action.mutateAsync({ id, action: kind });
      if (kind === "duplicate") {
        notifications.show({ color: "green", message: `Copied as the draft “${saved.name}”` });
        router.push(`/campaigns/new/?id=${saved.id}`);
      } else if (kind === "unschedule") {
        router.push(`/campaigns/new/?id=${saved.id}`);
      }
    } catch {
      // shown under the buttons
    }
  };

  return (
    <>
      <PageHeader
        title={c.name}
        actions={
          <>
            <Badge color={connected ? "green" : "gray"} variant="dot" data-testid="campaign-live" aria-live="polite">
              {connected ? "Live" : "Connecting…"}
            </Badge>
            <Button
              variant="light"
              component={Link}
              href={`/reports/campaign/?id=${c.id}`}
              leftSection={<IconChartBar size={16} />}
              data-testid="campaign-report-link"
            >
              Report
            </Button>
          </>
        }
      />
      <Group mb="md" gap="sm">
        <StatusBadge status={c.status} />
        {c.failure_reason ? (
          <Text c="red" size="sm" role="alert">
            {c.failure_reason}
          </Text>
        ) : null}
      </Group>

      <Paper withBorder p="md" mb="md" data-testid="campaign-progress-panel">
        <Group justify="space-between" mb="xs" wrap="wrap">
          <Title order={2} size="h4">
            Delivery
          </Title>
          <Text size="sm" data-testid="campaign-progress-text" aria-live="polite">
            {total ? `${handled.toLocaleString()} of ${total.toLocaleString()} handled (${percent}%)` : c.status === "scheduled" ? "Waiting for the start time" : "No deliveries yet"}
          </Text>
        </Group>
        <Progress.Root size={22} aria-label="Delivery progress" data-testid="campaign-progress" data-percent={percent}>
          {SECTIONS.map((s) =>
            counts[s.key] ? (
              <Progress.Section key={s.key} value={(counts[s.key] / Math.max(total, 1)) * 100} color={s.color} aria-label={s.label}>
                <Progress.Label>{counts[s.key] > total * 0.08 ? s.label : ""}</Progress.Label>
              </Progress.Section>
            ) : null,
          )}
        </Progress.Root>
        <SimpleGrid cols={{ base: 2, sm: 4 }} mt="md" spacing="xs">
          {SECTIONS.map((s) => (
            <Stack key={s.key} gap={0}>
              <Text size="xs" c="dimmed">
                {s.label}
              </Text>
              <Text fw={700} data-testid={`campaign-count-${s.key}`}>
                {(counts[s.key] ?? 0).toLocaleString()}
              </Text>
            </Stack>
          ))}
        </SimpleGrid>
        <ErrorAlert error={progress.error} />
      </Paper>

      <Group mb="xs" gap="sm" wrap="wrap">
        {c.status === "sending" ? (
          <Button leftSection={<IconPlayerPause size={16} />} variant="light" onClick={() => void run("pause")} loading={action.isPending} data-testid="campaign-pause">
            Pause
          </Button>
        ) : null}
        {c.status === "paused" ? (
          <Button leftSection={<IconPlayerPlay size={16} />} onClick={() => void run("resume")} loading={action.isPending} data-testid="campaign-resume">
            Resume
          </Button>
        ) : null}
        {c.status === "scheduled" ? (
          <Button variant="light" onClick={() => void run("unschedule")} loading={action.isPending} data-testid="campaign-unschedule">
            Unschedule and edit
          </Button>
        ) : null}
        {c.status === "draft" ? (
          <Button component={Link} href={`/campaigns/new/?id=${c.id}`} data-testid="campaign-edit">
            Continue editing
          </Button>
        ) : null}
        {active ? (
          <Button color="red" variant="light" leftSection={<IconPlayerStop size={16} />} onClick={cancelModal.open} data-testid="campaign-cancel">
            Cancel
          </Button>
        ) : null}
        <Button variant="default" leftSection={<IconCopy size={16} />} onClick={() => void run("duplicate")} data-testid="campaign-duplicate">
          Duplicate
        </Button>
        {c.status === "draft" || c.status === "cancelled" || c.status === "failed" ? (
          <Button color="red" variant="subtle" leftSection={<IconTrash size={16} />} onClick={deleteModal.open} data-testid="campaign-delete">
            Delete
          </Button>
        ) : null}
      </Group>
      <Stack mb="md">
        <ErrorAlert error={action.error ?? remove.error} testId="campaign-action-error" />
      </Stack>

      <Grid gutter="md">
        <Grid.Col span={{ base: 12, md: 7 }}>
          {c.ab_test ? (
            <Paper withBorder p="md" mb="md" data-testid="campaign-ab">
              <Title order={2} size="h4" mb="xs">
                A/B test
              </Title>
              <Text size="sm" c="dimmed" mb="xs">
                {c.ab_test.test_percent}% of the audience, winner by {c.ab_test.metric === "opens" ? "open" : "click"} rate
                {c.ab_test.decide_at ? ` at ${when(c.ab_test.decide_at)}` : ` ${c.ab_test.wait_minutes} minutes after the last test send`}.
                {c.ab_test.winner ? ` Winner: ${c.ab_test.winner}.` : ""}
              </Text>
              <Table.ScrollContainer minWidth={420}>
                <Table>
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Variant</Table.Th>
                      <Table.Th>Subject</Table.Th>
                      <Table.Th>Sent</Table.Th>
                      <Table.Th>Engaged</Table.Th>
                      <Table.Th>Rate</Table.Th>
                      <Table.Th />
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {c.ab_test.variants.map((v) => {
                      const vp = p?.variants?.find((x) => x.name === v.name);
                      return (
                        <Table.Tr key={v.name}>
                          <Table.Td>
                            <Group gap={4}>
                              {v.name}
                              {c.ab_test?.winner === v.name ? <Badge size="xs">winner</Badge> : null}
                            </Group>
                          </Table.Td>
                          <Table.Td>{v.subject ?? c.subject}</Table.Td>
                          <Table.Td>{vp?.sent ?? 0}</Table.Td>
                          <Table.Td>{vp?.engaged ?? 0}</Table.Td>
                          <Table.Td>{vp ? `${(vp.rate * 100).toFixed(1)}%` : "—"}</Table.Td>
                          <Table.Td>
                            {!c.ab_test?.winner && (c.status === "sending" || c.status === "paused") ? (
                              <Button size="compact-xs" variant="light" loading={winner.isPending} onClick={() => winner.mutate({ id, variant: v.name })}>
                                Pick {v.name}
                              </Button>
                            ) : null}
                          </Table.Td>
                        </Table.Tr>
                      );
                    })}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
              <ErrorAlert error={winner.error} />
            </Paper>
          ) : null}

          <Paper withBorder p="md">
            <Title order={2} size="h4" mb="xs">
              Details
            </Title>
            <Table variant="vertical" layout="fixed">
              <Table.Tbody>
                <Table.Tr>
                  <Table.Th w={140}>Subject</Table.Th>
                  <Table.Td>{c.subject || "—"}</Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th>Preheader</Table.Th>
                  <Table.Td>{c.preheader || "—"}</Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th>Template</Table.Th>
                  <Table.Td>
                    {c.template_id ? <Anchor component={Link} href={`/templates/edit/?id=${c.template_id}`}>{template.data?.name ?? "open"}</Anchor> : "—"}
                  </Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th>From</Table.Th>
                  <Table.Td>{sender ? `${sender.from_name} <${sender.from_email}>` : "—"}</Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th>Audience</Table.Th>
                  <Table.Td>{c.audience_size ?? "counted when sending begins"}</Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th>Schedule</Table.Th>
                  <Table.Td>
                    {c.schedule.send_mode === "now"
                      ? "As soon as started"
                      : c.schedule.send_mode === "at"
                        ? when(c.schedule.send_at)
                        : `${String(c.schedule.local_send_at ?? "").replace("T", " ")} in each contact's timezone`}
                  </Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th>Started</Table.Th>
                  <Table.Td>{when(c.started_at)}</Table.Td>
                </Table.Tr>
                <Table.Tr>
                  <Table.Th>Finished</Table.Th>
                  <Table.Td>{when(c.finished_at)}</Table.Td>
                </Table.Tr>
              </Table.Tbody>
            </Table>
          </Paper>
        </Grid.Col>
        <Grid.Col span={{ base: 12, md: 5 }}>
          <Paper withBorder p="md">
            <Title order={2} size="h4" mb="xs">
              Live activity
            </Title>
            {feed.length ? (
              <Stack gap={4} data-testid="campaign-feed" aria-live="polite">
                {feed.map((f, i) => (
                  <Text key={i} size="sm">
                    <Text span c="dimmed" size="xs" mr={6}>
                      {f.at}
                    </Text>
                    {f.text}
                  </Text>
                ))}
              </Stack>
            ) : (
              <Text size="sm" c="dimmed">
                Batches and state changes appear here as they happen.
              </Text>
            )}
          </Paper>
        </Grid.Col>
      </Grid>

      <Modal opened={confirmCancel} onClose={cancelModal.close} title="Cancel this campaign?">
        <Text size="sm" mb="md">
          Messages not handed to senders yet are skipped. This cannot be undone; you can duplicate the campaign later.
        </Text>
        <Group justify="flex-end">
          <Button variant="default" onClick={cancelModal.close}>
            Keep sending
          </Button>
          <Button
            color="red"
            data-testid="campaign-cancel-confirm"
            loading={action.isPending}
            onClick={() => {
              cancelModal.close();
              void run("cancel");
            }}
          >
            Cancel campaign
          </Button>
        </Group>
      </Modal>
      <Modal opened={confirmDelete} onClose={deleteModal.close} title="Delete this campaign?">
        <Text size="sm" mb="md">
          The campaign and its delivery records are deleted.
        </Text>
        <Group justify="flex-end">
          <Button variant="default" onClick={deleteModal.close}>
            Keep it
          </Button>
          <Button
            color="red"
            loading={remove.isPending}
            onClick={async () => {
              try {
                await remove.mutateAsync(id);
                router.push("/campaigns/");
              } catch {
                deleteModal.close();
              }
            }}
          >
            Delete
          </Button>
        </Group>
      </Modal>
    </>
  );
}
