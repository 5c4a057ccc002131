"use client";
import { AreaChart, LineChart } from "@mantine/charts";
import { Group, Paper, SegmentedControl, SimpleGrid, Skeleton, Stack, Text, Title } from "@mantine/core";
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { useRef, useState } from "react";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import { useLive } from "@/api/live";
import type { Schemas } from "@/api/types";
import { useWorkspaceId } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { formatCount, formatRate } from "@/components/common/format";
import { StatCard } from "@/components/dashboard/StatCard";

const PERIODS: Record<string, number> = { "7": 7, "30": 30, "90": 90 };

function isoDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

export default function DashboardPage() {
  const workspaceId = useWorkspaceId();
  const queryClient = useQueryClient();
  const [days, setDays] = useState("30");
  const to = new Date();
  const from = new Date(to.getTime() - (PERIODS[days] - 1) * 86_400_000);
  const bucket = PERIODS[days] > 31 ? "week" : "day";
  const queryKey = ["dashboard", workspaceId, days];

  const report = useQuery({
    queryKey,
    // The endpoint also answers CSV, so the typed result is a union: it is JSON here.
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/reports/dashboard", {
          params: { path: { workspace_id: workspaceId }, query: { from: isoDay(from), to: isoDay(to), bucket } },
        }),
      ) as Promise<Schemas["DashboardReport"]>,
  });

  // New sends and events show up without a reload (at most every few seconds).
  const lastRefresh = useRef(0);
  const live = useLive(workspaceId, (message) => {
    if (message.type !== "campaign.progress" && message.type !== "campaign.state") return;
    const now = Date.now();
    if (now - lastRefresh.current < 3000) return;
    lastRefresh.current = now;
    void queryClient.invalidateQueries({ queryKey: ["dashboard", workspaceId] });
  });

  const data = report.data;
  const change = (name: string) => data?.changes[name]?.relative;
  const series = (data?.series ?? []).map((point) => ({
    date: new Date(point.start).toLocaleDateString(undefined, { month: "short", day: "numeric" }),
    Sent: point.counts.sent ?? 0,
    Delivered: point.counts.delivered ?? 0,
    Opens: point.counts.unique_human_opens ?? 0,
    Clicks: point.counts.unique_human_clicks ?? 0,
    Bounces: point.counts.bounces ?? 0,
    Unsubscribes: point.counts.unsubscribes ?? 0,
  }));

  return (
    <>
      <PageHeader
        title="Dashboard"
        description={live ? "Live: figures update as mail goes out." : "Your campaigns together."}
        actions={
          <SegmentedControl
            aria-label="Period"
            value={days}
            onChange={setDays}
            data={[
              { value: "7", label: "7 days" },
              { value: "30", label: "30 days" },
              { value: "90", label: "90 days" },
            ]}
          />
        }
      />
      <ErrorAlert error={report.error} title="The dashboard could not be loaded" />
      {report.isPending ? (
        <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }}>
          {[0, 1, 2, 3].map((i) => (
            <Skeleton key={i} h={90} />
          ))}
        </SimpleGrid>
      ) : data ? (
        <Stack>
          <SimpleGrid cols={{ base: 1, xs: 2, md: 4 }} data-testid="dashboard-figures">
            <StatCard label="Sent" value={formatCount(data.totals.sent)} change={change("sent")} testId="stat-sent" />
            <StatCard label="Delivery rate" value={formatRate(data.rates.delivery_rate)} change={change("delivery_rate")} testId="stat-delivery" />
            <StatCard label="Open rate (people)" value={formatRate(data.rates.human_open_rate)} change={change("human_open_rate")} testId="stat-open" />
            <StatCard label="Click rate (people)" value={formatRate(data.rates.human_click_rate)} change={change("human_click_rate")} testId="stat-click" />
            <StatCard label="Bounce rate" value={formatRate(data.rates.bounce_rate)} change={change("bounce_rate")} higherIsBetter={false} testId="stat-bounce" />
            <StatCard label="Unsubscribes" value={formatCount(data.totals.unsubscribes)} change={change("unsubscribes")} higherIsBetter={false} testId="stat-unsubscribes" />
            <StatCard label="Complaints" value={formatCount(data.totals.complaints)} change={change("complaints")} higherIsBetter={false} testId="stat-complaints" />
            <StatCard label="Campaigns" value={formatCount(data.campaigns)} change={change("campaigns")} testId="stat-campaigns" />
          </SimpleGrid>
          {data.derived_delivered_campaigns > 0 ? (
            <Text size="xs" c="dimmed">
              For {data.derived_delivered_campaigns} campaign(s) without delivery notices, delivered is counted as sent minus bounces.
            </Text>
          ) : null}
          <SimpleGrid cols={{ base: 1, lg: 2 }}>
            <Paper withBorder p="md">
              <Title order={2} size="h4" mb="md">
                Sent and delivered
              </Title>
              <AreaChart
                h={260}
                data={series}
                dataKey="date"
                series={[
                  { name: "Sent", color: "indigo.6" },
                  { name: "Delivered", color: "teal.6" },
                ]}
                curveType="monotone"
              />
            </Paper>
            <Paper withBorder p="md">
              <Title order={2} size="h4" mb="md">
                Engagement (unique, people)
              </Title>
              <LineChart
                h={260}
                data={series}
                dataKey="date"
                series={[
                  { name: "Opens", color: "blue.6" },
                  { name: "Clicks", color: "grape.6" },
                  { name: "Bounces", color: "red.6" },
                  { name: "Unsubscribes", color: "orange.6" },
                ]}
                curveType="monotone"
              />
            </Paper>
          </SimpleGrid>
          <Group gap="xs">
            <Text size="xs" c="dimmed">
              {data.period.from} – {data.period.to}, by {data.bucket}; changes against {data.previous_period.from} – {data.previous_period.to}.
            </Text>
          </Group>
        </Stack>
      ) : null}
    </>
  );
}
