"use client";
import { Select } from "@mantine/core";
import { useRouter } from "next/navigation";

import { useWorkspace } from "@/api/workspace";

export function WorkspaceSwitcher() {
  const { me, workspaceId, switchWorkspace } = useWorkspace();
  const router = useRouter();
  return (
    <Select
      label="Workspace"
      aria-label="Workspace"
      data-testid="workspace-switcher"
      size="xs"
      allowDeselect={false}
      value={workspaceId}
      data={me.workspaces.map((ws) => ({ value: ws.id, label: `${ws.name} (${ws.role})` }))}
      onChange={(id) => {
        if (id && id !== workspaceId) {
          switchWorkspace(id);
          router.push("/dashboard/");
        }
      }}
    />
  );
}
