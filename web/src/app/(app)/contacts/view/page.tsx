import { Placeholder } from "@/components/common/Placeholder";

export default function Page() {
  return <Placeholder title="Contact" />;
}
