import { CampaignList } from "@/components/campaigns/CampaignList";

export default function Page() {
  return <CampaignList />;
}
