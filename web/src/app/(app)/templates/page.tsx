import { TemplateList } from "@/components/templates/TemplateList";

export default function Page() {
  return <TemplateList />;
}
