"use client";

import { Button } from "@mantine/core";
import Link from "next/link";

import { SegmentsList } from "@/components/audience/SegmentEditor";
import { PageHeader } from "@/components/common/PageHeader";

export default function SegmentsPage() {
  return (
    <>
      <PageHeader
        title="Segments"
        description="Saved rules that pick contacts; campaigns can be sent to them."
        actions={
          <Button component={Link} href="/segments/edit/" data-testid="segment-new">
            New segment
          </Button>
        }
      />
      <SegmentsList />
    </>
  );
}
