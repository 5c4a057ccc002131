import { Badge } from "@mantine/core";

const COLORS: Record<string, string> = {
  verified: "teal",
  pending: "gray",
  missing: "red",
  mismatch: "orange",
  error: "red",
  succeeded: "teal",
  failed: "red",
  cancelled: "gray",
};

export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <Badge color={COLORS[status] ?? "gray"} variant="light" data-testid={testId} style={{ minWidth: "fit-content" }}>
      {status}
    </Badge>
  );
}
