"use client";

import { Stack } from "@mantine/core";

import { ImportHistory, ImportWizard } from "@/components/audience/ImportWizard";
import { PageHeader } from "@/components/common/PageHeader";

export default function ImportsPage() {
  return (
    <>
      <PageHeader
        title="Import contacts"
        description="Upload a CSV or JSON Lines file, check how its columns map, and watch it import. Nothing changes until the import completes."
      />
      <Stack gap="xl">
        <ImportWizard />
        <ImportHistory />
      </Stack>
    </>
  );
}
