import { ReportList } from "@/components/reports/ReportList";

export default function Page() {
  return <ReportList />;
}
