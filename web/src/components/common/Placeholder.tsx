import { Text } from "@mantine/core";

import { PageHeader } from "./PageHeader";

/** A page that is not built yet. */
export function Placeholder({ title }: { title: string }) {
  return (
    <>
      <PageHeader title={title} />
      <Text c="dimmed">This page is coming soon.</Text>
    </>
  );
}
