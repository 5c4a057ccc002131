"use client";
import { Button, Group, Paper, Select, Skeleton, Stack, Text, TextInput } from "@mantine/core";
import { useForm } from "@mantine/form";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api } from "@/api/client";
import { ApiError, unwrap } from "@/api/errors";
import { useWorkspace } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { DomainCard } from "@/components/settings/DomainCard";
import { Senders } from "@/components/settings/Senders";

type Algorithm = "rsa-sha256" | "ed25519-sha256";

export default function SendingDomainsPage() {
  const { workspaceId, workspace } = useWorkspace();
  const canWrite = workspace.role === "owner" || workspace.role === "admin";
  const queryClient = useQueryClient();
  const domains = useQuery({
    queryKey: ["sending-domains", workspaceId],
    queryFn: () =>
      unwrap(api.GET("/api/v1/workspaces/{workspace_id}/sending-domains", { params: { path: { workspace_id: workspaceId }, query: { limit: 200 } } })),
  });
  const form = useForm<{ domain: string; dkim_algorithm: Algorithm }>({ initialValues: { domain: "", dkim_algorithm: "rsa-sha256" } });
  const create = useMutation({
    mutationFn: (body: { domain: string; dkim_algorithm: Algorithm }) =>
      unwrap(api.POST("/api/v1/workspaces/{workspace_id}/sending-domains", { params: { path: { workspace_id: workspaceId } }, body })),
    onSuccess: () => {
      form.reset();
      void queryClient.invalidateQueries({ queryKey: ["sending-domains", workspaceId] });
    },
    onError: (error) => {
      if (error instanceof ApiError) form.setErrors(error.fieldErrors());
    },
  });

  return (
    <>
      <PageHeader title="Sending domains" description="Domains your mail is sent from, signed with DKIM, with SPF and DMARC records to publish." />
      <Stack>
        <Paper withBorder p="md">
          <form onSubmit={form.onSubmit((values) => create.mutate(values))}>
            <Group align="flex-end" wrap="wrap">
              <TextInput label="Domain" placeholder="example.com" required data-testid="domain-input" {...form.getInputProps("domain")} />
              <Select
                label="DKIM key"
                allowDeselect={false}
                data={[
                  { value: "rsa-sha256", label: "RSA-2048 (works everywhere)" },
                  { value: "ed25519-sha256", label: "Ed25519 (smaller; not checked everywhere)" },
                ]}
                {...form.getInputProps("dkim_algorithm")}
              />
              <Button type="submit" loading={create.isPending} disabled={!canWrite} data-testid="domain-add">
                Add domain
              </Button>
            </Group>
          </form>
          {!canWrite ? (
            <Text size="sm" c="dimmed" mt="xs">
              Only owners and admins change sending domains.
            </Text>
          ) : null}
          <ErrorAlert error={create.error} testId="domain-error" />
        </Paper>
        <ErrorAlert error={domains.error} />
        {domains.isPending ? <Skeleton h={200} /> : null}
        {domains.data?.items.map((domain) => (
          <DomainCard key={domain.id} domain={domain} workspaceId={workspaceId} canWrite={canWrite} />
        ))}
        {domains.data && domains.data.items.length === 0 ? <Text>No sending domains yet.</Text> : null}
        <Senders workspaceId={workspaceId} canWrite={canWrite} />
      </Stack>
    </>
  );
}
