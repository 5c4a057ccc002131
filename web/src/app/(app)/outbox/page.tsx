"use client";

import { OutboxList } from "@/components/audience/OutboxViewer";
import { PageHeader } from "@/components/common/PageHeader";

export default function OutboxPage() {
  return (
    <>
      <PageHeader
        title="Outbox"
        description="Mail the outbox transport kept instead of delivering it, newest first."
      />
      <OutboxList />
    </>
  );
}
