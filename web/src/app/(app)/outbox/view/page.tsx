"use client";

import { Anchor, Loader, Stack, Text } from "@mantine/core";
import Link from "next/link";
import { useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { OutboxMessage } from "@/components/audience/OutboxViewer";

function Message() {
  const id = useSearchParams().get("id");
  if (!id) return <Text c="dimmed">No message chosen: open one from the outbox.</Text>;
  return <OutboxMessage id={id} key={id} />;
}

export default function OutboxMessagePage() {
  return (
    <Stack>
      <Anchor component={Link} href="/outbox/" size="sm">
        ← Outbox
      </Anchor>
      <Suspense fallback={<Loader size="sm" />}>
        <Message />
      </Suspense>
    </Stack>
  );
}
