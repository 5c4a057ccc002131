"use client";
import { Anchor, Badge, Button, Center, Loader, Select, Table, Text } from "@mantine/core";
import { IconPlus } from "@tabler/icons-react";
import Link from "next/link";
import { useState } from "react";

import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { when } from "@/components/templates/TemplateList";

import { STATUS_COLORS, useCampaigns, type CampaignStatus } from "./api";

export function StatusBadge({ status }: { status: string }) {
  return (
    <Badge color={STATUS_COLORS[status] ?? "gray"} variant="light" data-testid="campaign-status">
      {status}
    </Badge>
  );
}

export function campaignHref(c: { id: string; status: string }): string {
  return c.status === "draft" ? `/campaigns/new/?id=${c.id}` : `/campaigns/view/?id=${c.id}`;
}

export function CampaignList() {
  const [status, setStatus] = useState<CampaignStatus | null>(null);
  const campaigns = useCampaigns(status ?? undefined);
  const items = campaigns.data?.items ?? [];
  return (
    <>
      <PageHeader
        title="Campaigns"
        description="Drafts, scheduled sends, sending and sent campaigns."
        actions={
          <Button component={Link} href="/campaigns/new/" leftSection={<IconPlus size={16} />} data-testid="campaign-new">
            New campaign
          </Button>
        }
      />
      <Select
        label="Status"
        placeholder="Any status"
        clearable
        maw={240}
        mb="md"
        value={status}
        onChange={(v) => setStatus(v as CampaignStatus | null)}
        data={["draft", "scheduled", "sending", "paused", "sent", "cancelled", "failed"]}
      />
      <ErrorAlert error={campaigns.error} title="Campaigns could not be loaded" />
      {campaigns.isPending ? (
        <Center p="xl">
          <Loader aria-label="Loading campaigns" />
        </Center>
      ) : items.length === 0 && !campaigns.isError ? (
        <Text c="dimmed">No campaigns {status ? `with status ${status}` : "yet"}.</Text>
      ) : (
        <Table.ScrollContainer minWidth={640}>
          <Table striped highlightOnHover data-testid="campaigns-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>Subject</Table.Th>
                <Table.Th>Audience</Table.Th>
                <Table.Th>Started</Table.Th>
                <Table.Th>Report</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((c) => (
                <Table.Tr key={c.id} data-testid="campaign-row">
                  <Table.Td>
                    <Anchor component={Link} href={campaignHref(c)}>
                      {c.name}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>
                    <StatusBadge status={c.status} />
                  </Table.Td>
                  <Table.Td>
                    <Text size="sm" lineClamp={1}>
                      {c.subject || "—"}
                    </Text>
                  </Table.Td>
                  <Table.Td>{c.audience_size ?? "—"}</Table.Td>
                  <Table.Td>{when(c.started_at)}</Table.Td>
                  <Table.Td>
                    {c.status === "draft" ? (
                      "—"
                    ) : (
                      <Anchor component={Link} href={`/reports/campaign/?id=${c.id}`} size="sm">
                        Report
                      </Anchor>
                    )}
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
    </>
  );
}
