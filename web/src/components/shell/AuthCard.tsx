import { Center, Paper, Stack, Text, Title } from "@mantine/core";
import type { ReactNode } from "react";

export function AuthCard({ title, subtitle, children }: { title: string; subtitle?: ReactNode; children: ReactNode }) {
  return (
    <Center mih="100vh" p="md">
      <Paper withBorder shadow="sm" p="xl" w="100%" maw={420}>
        <Stack>
          <Text fw={700} size="xl" c="indigo">
            Maily
          </Text>
          <Title order={1} size="h3">
            {title}
          </Title>
          {subtitle ? <Text c="dimmed" size="sm">{subtitle}</Text> : null}
          {children}
        </Stack>
      </Paper>
    </Center>
  );
}
