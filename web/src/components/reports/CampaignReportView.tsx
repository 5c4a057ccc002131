"use client";
// A campaign's report: figures (human and total opens and clicks), the timeline,
// links, recipient domains and A/B variants. Refreshed by the live feed while it sends.
import { BarChart, LineChart } from "@mantine/charts";
import {
  Anchor,
  Badge,
  Button,
  Center,
  Group,
  Loader,
  Menu,
  Paper,
  SegmentedControl,
  SimpleGrid,
  Stack,
  Table,
  Tabs,
  Text,
  Title,
  Tooltip,
} from "@mantine/core";
import { IconDownload } from "@tabler/icons-react";
import { useQueryClient } from "@tanstack/react-query";
import Link from "next/link";
import { useCallback, useState } from "react";

import { useLive, type LiveMessage } from "@/api/live";
import { useWorkspaceId } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { StatusBadge } from "@/components/campaigns/CampaignList";
import { when } from "@/components/templates/TemplateList";

import { downloadCsv, pct, useCampaignReport, useTimeline, type Bucket, type Counts, type Rates } from "./api";

function Figure({ label, value, sub, testId, hint }: { label: string; value: string; sub?: string; testId: string; hint?: string }) {
  const body = (
    <Paper withBorder p="sm" data-testid={testId}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={600}>
        {label}
      </Text>
      <Text fw={700} size="xl">
        {value}
      </Text>
      {sub ? (
        <Text size="xs" c="dimmed">
          {sub}
        </Text>
      ) : null}
    </Paper>
  );
  return hint ? (
    <Tooltip label={hint} multiline w={260}>
      {body}
    </Tooltip>
  ) : (
    body
  );
}

function n(value: number | undefined): string {
  return (value ?? 0).toLocaleString();
}

export function CampaignReportView({ id }: { id: string }) {
  const ws = useWorkspaceId();
  const queryClient = useQueryClient();
  const { figures, links, domains } = useCampaignReport(id);
  const [bucket, setBucket] = useState<Bucket>("auto");
  const [people, setPeople] = useState<"human" | "all">("human");
  const timeline = useTimeline(id, bucket);
  const [csvError, setCsvError] = useState<unknown>(null);

  const onMessage = useCallback(
    (message: LiveMessage) => {
      if (message.campaign_id !== id) return;
      void queryClient.refetchQueries({ queryKey: ["reports", ws, id] }, { cancelRefetch: false });
    },
    [id, ws, queryClient],
  );
  const connected = useLive(ws, onMessage);

  if (figures.isPending) {
    return (
      <Center p="xl">
        <Loader aria-label="Loading the report" />
      </Center>
    );
  }
  if (figures.isError) return <ErrorAlert error={figures.error} title="The report could not be loaded" />;
  const report = figures.data;
  const c: Counts = report.figures.counts;
  const r: Rates = report.figures.rates;
  const base = `/api/v1/workspaces/${ws}/reports/campaigns/${id}`;
  const csv = (suffix: string, name: string) => async () => {
    setCsvError(null);
    try {
      await downloadCsv(`${base}${suffix}`, `${report.campaign.name}-${name}.csv`);
    } catch (err) {
      setCsvError(err);
    }
  };

  const human = people === "human";
  const points = (timeline.data?.points ?? []).map((p) => ({
    start: new Date(p.start).toLocaleString(undefined, timeline.data?.bucket === "day" ? { dateStyle: "medium" } : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }),
    Sent: p.counts.sent,
    Delivered: p.counts.delivered,
    Opens: human ? p.counts.unique_human_opens : p.counts.unique_opens,
    Clicks: human ? p.counts.unique_human_clicks : p.counts.unique_clicks,
    Bounces: p.counts.bounces,
    Unsubscribes: p.counts.unsubscribes,
  }));

  const opensCompare = [
    { kind: "Opens", Total: c.opens, Human: c.human_opens, "Unique total": c.unique_opens, "Unique human": c.unique_human_opens },
    { kind: "Clicks", Total: c.clicks, Human: c.human_clicks, "Unique total": c.unique_clicks, "Unique human": c.unique_human_clicks },
  ];

  const variants = report.variants.map((v) => ({
    variant: `${v.variant}${v.winner ? " (winner)" : ""}`,
    "Open rate": Math.round((v.figures.rates.human_open_rate ?? 0) * 1000) / 10,
    "Click rate": Math.round((v.figures.rates.human_click_rate ?? 0) * 1000) / 10,
  }));

  return (
    <>
      <PageHeader
        title={`Report: ${report.campaign.name}`}
        description={`Started ${when(report.campaign.started_at)}${report.campaign.finished_at ? ` · finished ${when(report.campaign.finished_at)}` : ""}`}
        actions={
          <>
            <Badge color={connected ? "green" : "gray"} variant="dot">
              {connected ? "Live" : "Connecting…"}
            </Badge>
            <Button variant="default" component={Link} href={`/campaigns/view/?id=${id}`}>
              Campaign
            </Button>
            <Menu>
              <Menu.Target>
                <Button variant="light" leftSection={<IconDownload size={16} />}>
                  CSV
                </Button>
              </Menu.Target>
              <Menu.Dropdown>
                <Menu.Item onClick={csv("", "figures")}>Figures</Menu.Item>
                <Menu.Item onClick={csv("/timeline", "timeline")}>Timeline</Menu.Item>
                <Menu.Item onClick={csv("/links", "links")}>Links</Menu.Item>
                <Menu.Item onClick={csv("/domains?limit=5000", "domains")}>Domains</Menu.Item>
              </Menu.Dropdown>
            </Menu>
          </>
        }
      />
      <Group mb="md">
        <StatusBadge status={report.campaign.status} />
      </Group>
      <Stack mb="md">
        <ErrorAlert error={csvError} title="The CSV could not be downloaded" />
      </Stack>

      <SimpleGrid cols={{ base: 2, sm: 3, lg: 6 }} spacing="sm" mb="md" data-testid="report-figures">
        <Figure label="Sent" value={n(c.sent)} testId="report-sent" />
        <Figure
          label="Delivered"
          value={n(c.delivered)}
          sub={pct(r.delivery_rate)}
          testId="report-delivered"
          hint={report.figures.delivered_source === "provider" ? "Delivery notices from the provider" : "Sent minus bounces: this relay sends no delivery notices"}
        />
        <Figure
          label="Opened (people)"
          value={n(c.unique_human_opens)}
          sub={`${pct(r.human_open_rate)} · ${n(c.unique_opens)} incl. machines (${pct(r.open_rate)})`}
          testId="report-opens"
          hint="Recipients who opened themselves; machine opens (privacy proxies, prefetch) counted apart"
        />
        <Figure
          label="Clicked (people)"
          value={n(c.unique_human_clicks)}
          sub={`${pct(r.human_click_rate)} · ${n(c.unique_clicks)} incl. scanners`}
          testId="report-clicks"
        />
        <Figure label="Bounces" value={n(c.bounces)} sub={`${n(c.hard_bounces)} hard · ${n(c.soft_bounces)} soft · ${pct(r.bounce_rate)}`} testId="report-bounces" />
        <Figure label="Unsubscribes" value={n(c.unsubscribes)} sub={`${pct(r.unsubscribe_rate)} · ${n(c.complaints)} complaints`} testId="report-unsubscribes" />
      </SimpleGrid>

      <Tabs defaultValue="timeline" keepMounted={false}>
        <Tabs.List>
          <Tabs.Tab value="timeline">Timeline</Tabs.Tab>
          <Tabs.Tab value="opens">Human vs total</Tabs.Tab>
          <Tabs.Tab value="links">Links</Tabs.Tab>
          <Tabs.Tab value="domains">Domains</Tabs.Tab>
          <Tabs.Tab value="variants" disabled={!report.variants.length}>
            Variants
          </Tabs.Tab>
        </Tabs.List>

        <Tabs.Panel value="timeline" pt="md">
          <Group mb="sm" wrap="wrap">
            <SegmentedControl
              aria-label="Bucket"
              value={bucket}
              onChange={(b) => setBucket(b as Bucket)}
              data={[
                { value: "auto", label: "Auto" },
                { value: "hour", label: "Hourly" },
                { value: "day", label: "Daily" },
              ]}
            />
            <SegmentedControl
              aria-label="Whose opens and clicks"
              value={people}
              onChange={(p) => setPeople(p as "human" | "all")}
              data={[
                { value: "human", label: "People only" },
                { value: "all", label: "Including machines" },
              ]}
              data-testid="report-human-toggle"
            />
          </Group>
          <ErrorAlert error={timeline.error} />
          {points.length ? (
            <Paper withBorder p="md" data-testid="report-timeline">
              <LineChart
                h={300}
                data={points}
                dataKey="start"
                withLegend
                curveType="monotone"
                series={[
                  { name: "Sent", color: "gray.6" },
                  { name: "Delivered", color: "blue.6" },
                  { name: "Opens", color: "green.6" },
                  { name: "Clicks", color: "violet.6" },
                  { name: "Bounces", color: "orange.6" },
                  { name: "Unsubscribes", color: "red.6" },
                ]}
              />
            </Paper>
          ) : timeline.isPending ? (
            <Loader aria-label="Loading the timeline" />
          ) : (
            <Text c="dimmed">No figures yet: they appear as mail is sent and opened.</Text>
          )}
        </Tabs.Panel>

        <Tabs.Panel value="opens" pt="md">
          <Paper withBorder p="md" data-testid="report-human-vs-total">
            <BarChart
              h={260}
              data={opensCompare}
              dataKey="kind"
              withLegend
              series={[
                { name: "Total", color: "gray.5" },
                { name: "Human", color: "teal.6" },
                { name: "Unique total", color: "blue.4" },
                { name: "Unique human", color: "indigo.7" },
              ]}
            />
            <Text size="sm" c="dimmed" mt="sm">
              Machine opens come from privacy proxies (such as Apple Mail Privacy Protection), prefetching and bots; machine clicks
              from link scanners. Rates use people only unless noted. Click-to-open (people): {pct(r.human_click_to_open_rate)}; all:{" "}
              {pct(r.click_to_open_rate)}.
            </Text>
          </Paper>
        </Tabs.Panel>

        <Tabs.Panel value="links" pt="md">
          <ErrorAlert error={links.error} />
          <Table.ScrollContainer minWidth={640}>
            <Table striped data-testid="report-links">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Link</Table.Th>
                  {report.variants.length ? <Table.Th>Variant</Table.Th> : null}
                  <Table.Th>Unique (people)</Table.Th>
                  <Table.Th>Unique</Table.Th>
                  <Table.Th>Clicks</Table.Th>
                  <Table.Th>Click rate</Table.Th>
                  <Table.Th>Share</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {(links.data?.links ?? []).map((l) => (
                  <Table.Tr key={`${l.variant}-${l.link_index}`}>
                    <Table.Td maw={360}>
                      <Anchor href={l.url} target="_blank" rel="noreferrer noopener" size="sm" style={{ wordBreak: "break-all" }}>
                        {l.url}
                      </Anchor>
                    </Table.Td>
                    {report.variants.length ? <Table.Td>{l.variant || "—"}</Table.Td> : null}
                    <Table.Td>{n(l.unique_human_clicks)}</Table.Td>
                    <Table.Td>{n(l.unique_clicks)}</Table.Td>
                    <Table.Td>{n(l.clicks)}</Table.Td>
                    <Table.Td>{pct(l.click_rate)}</Table.Td>
                    <Table.Td>{pct(l.click_share)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          {links.data && !links.data.links.length ? <Text c="dimmed">No tracked links in this campaign.</Text> : null}
        </Tabs.Panel>

        <Tabs.Panel value="domains" pt="md">
          <ErrorAlert error={domains.error} />
          <Table.ScrollContainer minWidth={720}>
            <Table striped data-testid="report-domains">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th>Domain</Table.Th>
                  <Table.Th>Sent</Table.Th>
                  <Table.Th>Delivered</Table.Th>
                  <Table.Th>Bounces</Table.Th>
                  <Table.Th>Open rate</Table.Th>
                  <Table.Th>Click rate</Table.Th>
                  <Table.Th>Complaints</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {(domains.data?.domains ?? []).map((d) => (
                  <Table.Tr key={d.domain}>
                    <Table.Td>{d.domain}</Table.Td>
                    <Table.Td>{n(d.sent)}</Table.Td>
                    <Table.Td>
                      {n(d.delivered)} ({pct(d.delivery_rate)})
                    </Table.Td>
                    <Table.Td>
                      {n(d.bounces)} ({pct(d.bounce_rate)})
                    </Table.Td>
                    <Table.Td>{pct(d.open_rate)}</Table.Td>
                    <Table.Td>{pct(d.click_rate)}</Table.Td>
                    <Table.Td>{n(d.complaints)}</Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </Table.ScrollContainer>
          {domains.data && domains.data.total_domains > domains.data.domains.length ? (
            <Text size="sm" c="dimmed">
              The {domains.data.domains.length} most sent of {domains.data.total_domains} domains; the CSV has them all.
            </Text>
          ) : null}
        </Tabs.Panel>

        <Tabs.Panel value="variants" pt="md">
          {report.variants.length ? (
            <Stack>
              <Paper withBorder p="md">
                <Title order={3} size="h5" mb="sm">
                  Rates by variant (people, %)
                </Title>
                <BarChart
                  h={240}
                  data={variants}
                  dataKey="variant"
                  withLegend
                  series={[
                    { name: "Open rate", color: "green.6" },
                    { name: "Click rate", color: "violet.6" },
                  ]}
                />
              </Paper>
              <Table.ScrollContainer minWidth={640}>
                <Table striped data-testid="report-variants">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Variant</Table.Th>
                      <Table.Th>Subject</Table.Th>
                      <Table.Th>Sent</Table.Th>
                      <Table.Th>Opened (people)</Table.Th>
                      <Table.Th>Opened (all)</Table.Th>
                      <Table.Th>Clicked (people)</Table.Th>
                      <Table.Th>Unsubscribes</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {report.variants.map((v) => (
                      <Table.Tr key={v.variant}>
                        <Table.Td>
                          {v.variant} {v.winner ? <Badge size="xs">winner</Badge> : null}
                        </Table.Td>
                        <Table.Td>{v.subject ?? "—"}</Table.Td>
                        <Table.Td>{n(v.figures.counts.sent)}</Table.Td>
                        <Table.Td>
                          {n(v.figures.counts.unique_human_opens)} ({pct(v.figures.rates.human_open_rate)})
                        </Table.Td>
                        <Table.Td>
                          {n(v.figures.counts.unique_opens)} ({pct(v.figures.rates.open_rate)})
                        </Table.Td>
                        <Table.Td>
                          {n(v.figures.counts.unique_human_clicks)} ({pct(v.figures.rates.human_click_rate)})
                        </Table.Td>
                        <Table.Td>{n(v.figures.counts.unsubscribes)}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              </Table.ScrollContainer>
            </Stack>
          ) : null}
        </Tabs.Panel>
      </Tabs>
    </>
  );
}
