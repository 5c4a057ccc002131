"use client";
import { BarChart } from "@mantine/charts";
import { Button, Group, NumberInput, Paper, PasswordInput, Select, SimpleGrid, Stack, Table, Text, TextInput, Title } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { aiProviders, type ProviderKind } from "@/api/aiProviders";
import { ApiError } from "@/api/errors";
import { useWorkspace } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { formatCount } from "@/components/common/format";
import { ProviderRow } from "@/components/settings/ProviderRow";

const DEFAULT_URLS: Record<ProviderKind, string> = {
  openai: "https://api.openai.com/v1",
  anthropic: "https://api.anthropic.com",
};

type ProviderForm = {
  name: string;
  kind: ProviderKind;
  base_url: string;
  model: string;
  api_key: string;
  priority: number;
  input_price_per_mtok: number;
  output_price_per_mtok: number;
};

function day(offset: number): string {
  return new Date(Date.now() - offset * 86_400_000).toISOString().slice(0, 10);
}

export default function AiProvidersPage() {
  const { workspaceId, workspace } = useWorkspace();
  // ai:manage: owners and admins.
  const canManage = workspace.role === "owner" || workspace.role === "admin";
  const queryClient = useQueryClient();
  const providers = useQuery({ queryKey: ["ai-providers", workspaceId], queryFn: () => aiProviders.list(workspaceId), enabled: canManage });
  const usage = useQuery({ queryKey: ["ai-usage", workspaceId], queryFn: () => aiProviders.usage(workspaceId, day(29), day(0)), enabled: canManage });
  const sorted = [...(providers.data ?? [])].sort((a, b) => a.priority - b.priority || a.created_at.localeCompare(b.created_at));

  const form = useForm<ProviderForm>({
    initialValues: { name: "", kind: "openai", base_url: "", model: "", api_key: "", priority: 100, input_price_per_mtok: 0, output_price_per_mtok: 0 },
  });
  const create = useMutation({
    mutationFn: (values: ProviderForm) =>
      aiProviders.create(workspaceId, { ...values, base_url: values.base_url || null, api_key: values.api_key || null }),
    onSuccess: () => {
      form.reset();
      void queryClient.invalidateQueries({ queryKey: ["ai-providers", workspaceId] });
    },
    onError: (error) => {
      if (error instanceof ApiError) form.setErrors(error.fieldErrors());
    },
  });

  if (!canManage) {
    return (
      <>
        <PageHeader title="AI providers" />
        <Text>Only owners and admins manage AI providers.</Text>
      </>
    );
  }

  return (
    <>
      <PageHeader
        title="AI providers"
        description="The models the assistant uses, asked in order of priority: when one fails, the next is asked."
      />
      <Stack>
        <ErrorAlert error={providers.error} title="The providers could not be loaded" />
        {sorted.map((provider, index) => (
          <ProviderRow
            key={provider.id}
            provider={provider}
            workspaceId={workspaceId}
            canManage={canManage}
            above={sorted[index - 1] ?? null}
            below={sorted[index + 1] ?? null}
          />
        ))}
        {providers.data && providers.data.length === 0 ? <Text>No providers yet: the assistant cannot answer until one is added.</Text> : null}

        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="sm">
            Add a provider
          </Title>
          <form onSubmit={form.onSubmit((values) => create.mutate(values))}>
            <Stack>
              <SimpleGrid cols={{ base: 1, sm: 2 }}>
                <TextInput label="Name" required data-testid="ai-provider-name" {...form.getInputProps("name")} />
                <Select
                  label="Kind"
                  allowDeselect={false}
                  data={[
                    { value: "openai", label: "OpenAI-compatible (OpenAI, Ollama, vLLM, OpenRouter…)" },
                    { value: "anthropic", label: "Anthropic" },
                  ]}
                  {...form.getInputProps("kind")}
                />
                <TextInput label="Base URL" placeholder={DEFAULT_URLS[form.values.kind]} description="Leave empty for the vendor's own API" {...form.getInputProps("base_url")} />
                <TextInput label="Model" required placeholder="gpt-4o-mini" data-testid="ai-provider-model" {...form.getInputProps("model")} />
                <PasswordInput label="API key" description="Stored encrypted; never shown again" {...form.getInputProps("api_key")} />
                <NumberInput label="Priority" description="Lower is asked first" min={0} max={10000} {...form.getInputProps("priority")} />
                <NumberInput label="Input price (USD per million tokens)" min={0} decimalScale={6} {...form.getInputProps("input_price_per_mtok")} />
                <NumberInput label="Output price (USD per million tokens)" min={0} decimalScale={6} {...form.getInputProps("output_price_per_mtok")} />
              </SimpleGrid>
              <Button type="submit" loading={create.isPending} w="fit-content" data-testid="ai-provider-add">
                Add provider
              </Button>
              <ErrorAlert error={create.error} testId="ai-provider-error" />
            </Stack>
          </form>
        </Paper>

        <Paper withBorder p="md">
          <Title order={2} size="h4" mb="sm">
            Usage, last 30 days
          </Title>
          <ErrorAlert error={usage.error} />
          {usage.data ? (
            <Stack>
              <Group gap="xl">
                <Text>{formatCount(usage.data.total.requests)} requests</Text>
                <Text>{formatCount(usage.data.total.input_tokens + usage.data.total.output_tokens)} tokens</Text>
                <Text>${usage.data.total.cost_usd.toFixed(4)}</Text>
              </Group>
              <BarChart
                h={200}
                data={usage.data.days.map((d) => ({ day: d.day.slice(5), Input: d.input_tokens, Output: d.output_tokens }))}
                dataKey="day"
                type="stacked"
                series={[
                  { name: "Input", color: "indigo.6" },
                  { name: "Output", color: "teal.6" },
                ]}
              />
              {usage.data.models.length > 0 ? (
                <Table aria-label="Usage by model">
                  <Table.Thead>
                    <Table.Tr>
                      <Table.Th>Provider</Table.Th>
                      <Table.Th>Model</Table.Th>
                      <Table.Th>Requests</Table.Th>
                      <Table.Th>Tokens</Table.Th>
                      <Table.Th>Cost</Table.Th>
                    </Table.Tr>
                  </Table.Thead>
                  <Table.Tbody>
                    {usage.data.models.map((m) => (
                      <Table.Tr key={`${m.provider_id}-${m.model}`}>
                        <Table.Td>{m.provider_name}</Table.Td>
                        <Table.Td>{m.model}</Table.Td>
                        <Table.Td>{formatCount(m.requests)}</Table.Td>
                        <Table.Td>{formatCount(m.input_tokens + m.output_tokens)}</Table.Td>
                        <Table.Td>${m.cost_usd.toFixed(4)}</Table.Td>
                      </Table.Tr>
                    ))}
                  </Table.Tbody>
                </Table>
              ) : null}
            </Stack>
          ) : null}
        </Paper>
      </Stack>
    </>
  );
}
