"use client";
import { SegmentedControl, Select, Stack, Text, TextInput } from "@mantine/core";
import type { UseFormReturnType } from "@mantine/form";
import { useMemo } from "react";

import type { WizardValues } from "./wizard";

function zones(): string[] {
  try {
    const all = (Intl as unknown as { supportedValuesOf?: (key: string) => string[] }).supportedValuesOf?.("timeZone");
    if (all?.length) return all.includes("UTC") ? all : ["UTC", ...all];
  } catch {
    // older browsers
  }
  return ["UTC"];
}

export function ScheduleStep({ form }: { form: UseFormReturnType<WizardValues> }) {
  const v = form.values;
  const zoneOptions = useMemo(zones, []);
  return (
    <Stack maw={720} mt="md">
      <Stack gap={4}>
        <Text size="sm" fw={500} id="send-mode-label">
          When
        </Text>
        <SegmentedControl
          aria-labelledby="send-mode-label"
          value={v.send_mode}
          onChange={(m) => form.setFieldValue("send_mode", m as WizardValues["send_mode"])}
          data={[
            { value: "now", label: "Now" },
            { value: "at", label: "At a time" },
            { value: "local_time", label: "Recipient's local time" },
          ]}
          data-testid="campaign-send-mode"
        />
      </Stack>
      {v.send_mode === "at" ? (
        <TextInput
          type="datetime-local"
          label="Send at (your time)"
          required
          data-testid="campaign-send-at"
          {...form.getInputProps("send_at")}
        />
      ) : null}
      {v.send_mode === "local_time" ? (
        <>
          <TextInput
            type="datetime-local"
            label="Send at this time in each contact's timezone"
            required
            data-testid="campaign-local-send-at"
            {...form.getInputProps("local_send_at")}
          />
          <Select
            label="Timezone for contacts without one"
            searchable
            allowDeselect={false}
            data={zoneOptions}
            {...form.getInputProps("timezone")}
          />
          <Text size="xs" c="dimmed">
            Sending begins when the first timezone reaches the time and goes out in waves.
          </Text>
        </>
      ) : null}
    </Stack>
  );
}
