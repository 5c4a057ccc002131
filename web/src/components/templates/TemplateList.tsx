"use client";
import { Anchor, Badge, Button, Center, Group, Loader, SegmentedControl, Table, Text } from "@mantine/core";
import { IconPlus } from "@tabler/icons-react";
import Link from "next/link";
import { useState } from "react";

import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";

import { useTemplates, type TemplateRole } from "./api";

export function when(iso: string | null | undefined): string {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export function TemplateList() {
  const [role, setRole] = useState<TemplateRole | "all">("all");
  const templates = useTemplates(role === "all" ? undefined : role);
  const items = templates.data?.items ?? [];
  return (
    <>
      <PageHeader
        title="Templates"
        description="Messages, layouts and reusable blocks, in MJML or HTML with merge tags."
        actions={
          <Button component={Link} href="/templates/edit/" leftSection={<IconPlus size={16} />} data-testid="template-new">
            New template
          </Button>
        }
      />
      <SegmentedControl
        mb="md"
        aria-label="Show"
        value={role}
        onChange={(v) => setRole(v as TemplateRole | "all")}
        data={[
          { value: "all", label: "All" },
          { value: "template", label: "Templates" },
          { value: "layout", label: "Layouts" },
          { value: "block", label: "Blocks" },
        ]}
      />
      <ErrorAlert error={templates.error} title="Templates could not be loaded" />
      {templates.isPending ? (
        <Center p="xl">
          <Loader aria-label="Loading templates" />
        </Center>
      ) : items.length === 0 && !templates.isError ? (
        <Text c="dimmed" data-testid="templates-empty">
          No templates yet. Create one, or let the AI assistant draft one.
        </Text>
      ) : (
        <Table.ScrollContainer minWidth={560}>
          <Table striped highlightOnHover data-testid="templates-table">
            <Table.Thead>
              <Table.Tr>
                <Table.Th>Name</Table.Th>
                <Table.Th>Kind</Table.Th>
                <Table.Th>Role</Table.Th>
                <Table.Th>Version</Table.Th>
                <Table.Th>Updated</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {items.map((t) => (
                <Table.Tr key={t.id} data-testid="template-row">
                  <Table.Td>
                    <Anchor component={Link} href={`/templates/edit/?id=${t.id}`}>
                      {t.name}
                    </Anchor>
                  </Table.Td>
                  <Table.Td>
                    <Badge variant="light">{t.kind.toUpperCase()}</Badge>
                  </Table.Td>
                  <Table.Td>{t.role}</Table.Td>
                  <Table.Td>v{t.current_version}</Table.Td>
                  <Table.Td>{when(t.updated_at)}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </Table.ScrollContainer>
      )}
      {templates.data?.next_cursor ? (
        <Group mt="sm">
          <Text size="sm" c="dimmed">
            Showing the first 200.
          </Text>
        </Group>
      ) : null}
    </>
  );
}
