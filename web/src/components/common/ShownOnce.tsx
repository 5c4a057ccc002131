"use client";
import { Alert, Code, CopyButton, Button, Group, Stack, Text } from "@mantine/core";
import { IconKey } from "@tabler/icons-react";

/** A secret the API shows only once (API key, webhook secret, invitation link). */
export function ShownOnce({ title, value, onDone, testId }: { title: string; value: string; onDone: () => void; testId?: string }) {
  return (
    <Alert color="yellow" icon={<IconKey size={18} />} title={title} data-testid={testId}>
      <Stack gap="xs">
        <Text size="sm">Copy it now: it is shown only this once.</Text>
        <Code block data-testid={testId ? `${testId}-value` : undefined} style={{ wordBreak: "break-all", whiteSpace: "pre-wrap" }}>
          {value}
        </Code>
        <Group>
          <CopyButton value={value}>
            {({ copied, copy }) => (
              <Button size="xs" variant="light" onClick={copy}>
                {copied ? "Copied" : "Copy"}
              </Button>
            )}
          </CopyButton>
          <Button size="xs" variant="subtle" onClick={onDone}>
            Done
          </Button>
        </Group>
      </Stack>
    </Alert>
  );
}
