"use client";
import { Anchor, Center, Loader, Table, Text } from "@mantine/core";
import Link from "next/link";

import { useCampaigns } from "@/components/campaigns/api";
import { StatusBadge } from "@/components/campaigns/CampaignList";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { when } from "@/components/templates/TemplateList";

export function ReportList() {
  const campaigns = useCampaigns();
  const items = (campaigns.data?.items ?? []).filter((c) => c.started_at || ["sending", "paused", "sent", "cancelled", "failed"].includes(c.status));
  return (
    <>
      <PageHeader title="Reports" description="Every campaign that has started sending. The dashboard has the workspace's totals." />
      <ErrorAlert error={campaigns.error} />
      {campaigns.isPending ? (
        <Center p="xl">
          <Loader aria-label="Loading campaigns" />
        </Center>
      ) : items.length ? (
        <Table.ScrollContainer minWidth={520}>
          <Table striped highlightOnHover data-testid="reports-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Campaign</Table.Th>
                <Table.Th>Status</Table.Th>
                <Table.Th>Audience</Table.Th>
                <Table.Th>Started</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((c) => (
                <Table.Tr key={c.id}>
                  <Table.Td>
                    <Anchor component={Link} href={`/reports/campaign/?id=${c.id}`}>
                      {c.name}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>
                    <StatusBadge status={c.status} />
                  </Table.Td>
                  <Table.Td>{c.audience_size ?? "—"}</Table.Td>
                  <Table.Td>{when(c.started_at)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      ) : (
        <Text c="dimmed">No campaign has been sent yet.</Text>
      )}
    </>
  );
}
