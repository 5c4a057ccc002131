"use client";
// Saved versions, newest first; each previewed through the preview endpoint, and restorable
// (restoring saves it again as the next version: nothing is overwritten).
import { Button, Center, Grid, Group, Loader, NavLink, ScrollArea, Stack, Text } from "@mantine/core";
import { useState } from "react";

import { ErrorAlert } from "@/components/common/ErrorAlert";

import { usePreview, useVersion, useVersions } from "./api";
import { ContactPicker } from "./ContactPicker";
import { PreviewFrame } from "./PreviewFrame";
import { when } from "./TemplateList";

type Restorable = { source: string; subject: string; preheader: string; layout_id: string | null };

export function TemplateVersions({ id, current, onRestore }: { id: string; current: number; onRestore: (v: Restorable) => void }) {
  const versions = useVersions(id);
  const [chosen, setChosen] = useState<number | null>(null);
  const selected = chosen ?? current;
  const version = useVersion(id, selected);
  const [contact, setContact] = useState<string | null>(null);
  const preview = usePreview(id, selected, contact);

  if (versions.isPending) {
    return (
      <Center p="xl">
        <Loader aria-label="Loading versions" />
      </Center>
    );
  }
  return (
    <Grid gutter="md">
      <Grid.Col span={{ base: 12, md: 4 }}>
        <ErrorAlert error={versions.error} />
        <ScrollArea.Autosize mah={560}>
          <Stack gap={2} role="list" aria-label="Versions" data-testid="template-versions">
            {(versions.data?.items ?? []).map((v) => (
              <NavLink
                key={v.id}
                role="listitem"
                active={v.version === selected}
                onClick={() => setChosen(v.version)}
                label={`Version ${v.version}${v.version === current ? " (current)" : ""}`}
                description={`${when(v.created_at)}${v.subject ? ` · ${v.subject}` : ""}`}
              />
            ))}
          </Stack>
        </ScrollArea.Autosize>
      </Grid.Col>
      <Grid.Col span={{ base: 12, md: 8 }}>
        <Group justify="space-between" mb="xs" align="flex-end" wrap="wrap">
          <Text fw={600}>Version {selected}</Text>
          <ContactPicker value={contact} onChange={setContact} />
          <Button
            size="xs"
            variant="light"
            disabled={selected === current || !version.data}
            onClick={() => version.data && onRestore(version.data)}
            data-testid="template-version-restore"
          >
            Restore as a new version
          </Button>
        </Group>
        <ErrorAlert error={preview.error ?? version.error} />
        {preview.data ? (
          <PreviewFrame html={preview.data.html} text={preview.data.text} subject={preview.data.subject} title={`Version ${selected}`} testId="template-version-preview" />
        ) : preview.isPending ? (
          <Center p="xl">
            <Loader aria-label="Rendering the version" />
          </Center>
        ) : null}
      </Grid.Col>
    </Grid>
  );
}
