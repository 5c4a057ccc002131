"use client";
import { useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { CampaignWizard, createdHere } from "@/components/campaigns/CampaignWizard";

function Wizard() {
  const id = useSearchParams().get("id");
  // A draft this wizard just created keeps the same wizard (and its step) mounted.
  const key = id && !createdHere.has(id) ? id : "new";
  return <CampaignWizard key={key} id={id} />;
}

export default function Page() {
  return (
    <Suspense>
      <Wizard />
    </Suspense>
  );
}
