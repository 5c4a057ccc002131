"use client";

import { Loader } from "@mantine/core";
import { useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { SegmentEditorPage } from "@/components/audience/SegmentEditor";

function Editor() {
  const id = useSearchParams().get("id");
  return <SegmentEditorPage id={id} key={id ?? "new"} />;
}

export default function SegmentEditPage() {
  return (
    <Suspense fallback={<Loader size="sm" />}>
      <Editor />
    </Suspense>
  );
}
