"use client";
// The signed-in person and the workspace they work in (switchable; kept in localStorage).
import { useQuery, useQueryClient } from "@tanstack/react-query";
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";

import { api } from "./client";
import { unwrap } from "./errors";
import { storeWorkspaceId, storedWorkspaceId } from "./session";
import type { Me, WorkspaceWithRole } from "./types";

type WorkspaceState = {
  me: Me;
  workspace: WorkspaceWithRole;
  workspaceId: string;
  switchWorkspace: (id: string) => void;
};

const WorkspaceContext = createContext<WorkspaceState | null>(null);

export function useMe() {
  return useQuery({ queryKey: ["me"], queryFn: () => unwrap(api.GET("/api/v1/me")) });
}

export function WorkspaceProvider({ me, children }: { me: Me; children: ReactNode }) {
  const queryClient = useQueryClient();
  const [chosen, setChosen] = useState<string | null>(() => storedWorkspaceId());
  const workspace = me.workspaces.find((ws) => ws.id === chosen) ?? me.workspaces[0];

  const switchWorkspace = useCallback(
    (id: string) => {
      storeWorkspaceId(id);
      setChosen(id);
      // Everything cached belongs to the previous workspace.
      queryClient.removeQueries({ predicate: (query) => query.queryKey[0] !== "me" });
    },
    [queryClient],
  );

  const value = useMemo(
    () => (workspace ? { me, workspace, workspaceId: workspace.id, switchWorkspace } : null),
    [me, workspace, switchWorkspace],
  );
  if (!value) return null;
  return <WorkspaceContext.Provider value={value}>{children}</WorkspaceContext.Provider>;
}

/** The current workspace; only inside the signed-in part of the app. */
export function useWorkspace(): WorkspaceState {
  const state = useContext(WorkspaceContext);
  if (!state) throw new Error("useWorkspace outside the app shell");
  return state;
}

/** Shorthand for the path parameter every workspace endpoint takes. */
export function useWorkspaceId(): string {
  return useWorkspace().workspaceId;
}
