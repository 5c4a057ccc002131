"use client";
// Pick a contact of the workspace by typing part of their address or name.
import { Select } from "@mantine/core";
import { useDebouncedValue } from "@mantine/hooks";
import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { useState } from "react";

import { api } from "@/api/client";
import { unwrap } from "@/api/errors";
import { useWorkspaceId } from "@/api/workspace";

export function ContactPicker({ value, onChange, label = "Preview as" }: { value: string | null; onChange: (id: string | null) => void; label?: string }) {
  const ws = useWorkspaceId();
  const [search, setSearch] = useState("");
  // The chosen one stays an option while other searches run.
  const [chosen, setChosen] = useState<{ value: string; label: string } | null>(null);
  const [debounced] = useDebouncedValue(search, 300);
  const q = chosen && debounced === chosen.label ? "" : debounced;
  const contacts = useQuery({
    queryKey: ["contacts", ws, "picker", q],
    placeholderData: keepPreviousData,
    queryFn: () =>
      unwrap(
        api.GET("/api/v1/workspaces/{workspace_id}/contacts", {
          params: { path: { workspace_id: ws }, query: { q: q || undefined, limit: 20 } },
        }),
      ),
  });
  const found = (contacts.data?.items ?? []).map((c) => ({
    value: c.id,
    label: [c.first_name, c.last_name].filter(Boolean).join(" ") ? `${[c.first_name, c.last_name].filter(Boolean).join(" ")} <${c.email}>` : c.email,
  }));
  const data = chosen && !found.some((o) => o.value === chosen.value) ? [chosen, ...found] : found;
  return (
    <Select
      label={label}
      placeholder="Sample contact"
      searchable
      clearable
      value={value}
      onChange={(id, option) => {
        setChosen(id && option ? { value: id, label: option.label } : null);
        onChange(id);
      }}
      searchValue={search}
      onSearchChange={setSearch}
      data={data}
      filter={({ options }) => options}
      nothingFoundMessage={contacts.isFetching ? "Searching…" : "No contact matches"}
      error={contacts.isError ? "Contacts could not be searched" : undefined}
      miw={240}
      data-testid="template-preview-contact"
    />
  );
}
