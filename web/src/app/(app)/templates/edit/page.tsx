"use client";
import { useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { TemplateEditor } from "@/components/templates/TemplateEditor";

function Editor() {
  const id = useSearchParams().get("id");
  // A new key per template: state never leaks from one template into another.
  return <TemplateEditor key={id ?? "new"} id={id} />;
}

export default function Page() {
  return (
    <Suspense>
      <Editor />
    </Suspense>
  );
}
