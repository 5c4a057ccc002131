"use client";
import { Text } from "@mantine/core";
import { useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { CampaignReportView } from "@/components/reports/CampaignReportView";

function Report() {
  const id = useSearchParams().get("id");
  if (!id) return <Text>No campaign chosen.</Text>;
  return <CampaignReportView key={id} id={id} />;
}

export default function Page() {
  return (
    <Suspense>
      <Report />
    </Suspense>
  );
}
