"use client";
import { Text } from "@mantine/core";
import { useSearchParams } from "next/navigation";
import { Suspense } from "react";

import { CampaignView } from "@/components/campaigns/CampaignView";

function View() {
  const id = useSearchParams().get("id");
  if (!id) return <Text>No campaign chosen.</Text>;
  return <CampaignView key={id} id={id} />;
}

export default function Page() {
  return (
    <Suspense>
      <View />
    </Suspense>
  );
}
