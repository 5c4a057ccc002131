import { Badge, Group, Paper, Text } from "@mantine/core";

type Props = {
  label: string;
  value: string;
  /** relative change against the previous period (0.1 = +10%) */
  change: number | null | undefined;
  /** whether a rise is good (opens) or bad (bounces) */
  higherIsBetter?: boolean;
  testId?: string;
};

export function StatCard({ label, value, change, higherIsBetter = true, testId }: Props) {
  const good = change == null || change === 0 ? null : change > 0 === higherIsBetter;
  return (
    <Paper withBorder p="md" radius="md" data-testid={testId}>
      <Text size="xs" c="dimmed" tt="uppercase" fw={700}>
        {label}
      </Text>
      <Group justify="space-between" align="flex-end" mt="xs">
        <Text fw={700} size="xl" data-testid={testId ? `${testId}-value` : undefined}>
          {value}
        </Text>
        {change == null ? (
          <Text size="xs" c="dimmed">
            no earlier data
          </Text>
        ) : (
          <Badge color={good === null ? "gray" : good ? "teal" : "red"} variant="light" aria-label="change against the previous period">
            {change > 0 ? "+" : ""}
            {(change * 100).toFixed(1)}%
          </Badge>
        )}
      </Group>
    </Paper>
  );
}
