"use client";
import { Button, Paper, Stack, TextInput, Textarea } from "@mantine/core";
import { useForm } from "@mantine/form";
import { notifications } from "@mantine/notifications";
import { useMutation, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";

import { api } from "@/api/client";
import { ApiError, unwrap } from "@/api/errors";
import { useWorkspace } from "@/api/workspace";
import { ErrorAlert } from "@/components/common/ErrorAlert";
import { PageHeader } from "@/components/common/PageHeader";
import { TransportCard } from "@/components/settings/TransportCard";

export default function WorkspaceSettingsPage() {
  const { workspace, workspaceId } = useWorkspace();
  const queryClient = useQueryClient();
  const form = useForm({ initialValues: { name: workspace.name, postal_address: workspace.postal_address } });
  const { setValues, resetDirty } = form;
  useEffect(() => {
    setValues({ name: workspace.name, postal_address: workspace.postal_address });
    resetDirty({ name: workspace.name, postal_address: workspace.postal_address });
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [workspace.id, workspace.name, workspace.postal_address]);

  const save = useMutation({
    mutationFn: (body: { name: string; postal_address: string }) =>
      unwrap(api.PATCH("/api/v1/workspaces/{workspace_id}", { params: { path: { workspace_id: workspaceId } }, body })),
    onSuccess: async () => {
      await queryClient.invalidateQueries({ queryKey: ["me"] });
      notifications.show({ color: "teal", message: "Workspace saved" });
    },
    onError: (error) => {
      if (error instanceof ApiError) form.setErrors(error.fieldErrors());
    },
  });
  const canWrite = workspace.role === "owner" || workspace.role === "admin";

  return (
    <>
      <PageHeader title="Workspace" description="Its name, and the postal address every campaign must carry (CAN-SPAM)." />
      <Paper withBorder p="md" maw={640}>
        <form onSubmit={form.onSubmit((values) => save.mutate(values))}>
          <Stack>
            <TextInput label="Name" required disabled={!canWrite} data-testid="workspace-name" {...form.getInputProps("name")} />
            <Textarea
              label="Postal address"
              description="Shown in every email's footer; campaigns cannot start without it."
              autosize
              minRows={3}
              disabled={!canWrite}
              data-testid="workspace-postal-address"
              {...form.getInputProps("postal_address")}
            />
            <Button type="submit" loading={save.isPending} disabled={!canWrite} w="fit-content" data-testid="workspace-save">
              Save
            </Button>
            <ErrorAlert error={save.error} />
          </Stack>
        </form>
      </Paper>
      {canWrite && (
        <Stack mt="lg">
          <TransportCard workspaceId={workspaceId} />
        </Stack>
      )}
    </>
  );
}
