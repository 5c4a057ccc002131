"use client";
import { useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { AssistantPage } from "@/components/assistant/AssistantPage";

function Assistant() {
  return <AssistantPage templateId={useSearchParams().get("template_id")} />;
}

export default function Page() {
  return (
    <Suspense>
      <Assistant />
    </Suspense>
  );
}
