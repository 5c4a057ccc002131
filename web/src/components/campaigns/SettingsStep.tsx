"use client";
import { ActionIcon, Button, Group, NumberInput, Paper, SegmentedControl, Select, Stack, Switch, Text, TextInput, Title } from "@mantine/core";
import type { UseFormReturnType } from "@mantine/form";
import { IconPlus, IconTrash } from "@tabler/icons-react";

import type { WizardValues } from "./wizard";

type Props = {
  form: UseFormReturnType<WizardValues>;
  templateOptions: { value: string; label: string }[];
  withSto: boolean;
};

const NAMES = "ABCDE";

export function SettingsStep({ form, templateOptions, withSto }: Props) {
  const v = form.values;
  return (
    <Stack maw={720} mt="md">
      <Paper withBorder p="md">
        <Title order={3} size="h5" mb={4}>
          Tracking
        </Title>
        <Text size="sm" c="dimmed">
          Opens (a pixel) and clicks on every plain http(s) link are tracked, with machine opens and clicks from privacy
          proxies and scanners counted apart. To leave a link untracked, give it a <code>data-no-track</code> attribute in the
          template; links with merge tags in their address are never rewritten.
        </Text>
      </Paper>

      {withSto ? (
        <Paper withBorder p="md">
          <Switch
            label="Send at each contact's best time"
            description="Each contact gets the campaign at the hour they usually open, within a day of the start."
            data-testid="campaign-sto"
            {...form.getInputProps("send_time_optimisation", { type: "checkbox" })}
          />
        </Paper>
      ) : null}

      <Paper withBorder p="md">
        <Switch
          label="A/B test"
          description="Send variants to part of the audience, then the winner to the rest."
          data-testid="campaign-ab"
          {...form.getInputProps("ab_enabled", { type: "checkbox" })}
        />
        {v.ab_enabled ? (
          <Stack mt="md">
            {v.variants.map((_, i) => (
              <Paper key={i} withBorder p="sm" bg="gray.0">
                <Group justify="space-between" mb="xs">
                  <Text fw={600}>Variant {NAMES[i]}</Text>
                  <ActionIcon
                    variant="subtle"
                    color="red"
                    aria-label={`Remove variant ${NAMES[i]}`}
                    disabled={v.variants.length <= 2}
                    onClick={() => form.removeListItem("variants", i)}
                  >
                    <IconTrash size={16} />
                  </ActionIcon>
                </Group>
                <Group grow align="flex-start" wrap="wrap">
                  <TextInput
                    label="Subject"
                    placeholder={v.subject || "The campaign's subject"}
                    miw={220}
                    data-testid={`campaign-variant-${NAMES[i]}-subject`}
                    {...form.getInputProps(`variants.${i}.subject`)}
                  />
                  <Select
                    label="Template"
                    placeholder="The campaign's template"
                    clearable
                    miw={220}
                    data={templateOptions}
                    {...form.getInputProps(`variants.${i}.template_id`)}
                  />
                </Group>
              </Paper>
            ))}
            <Group>
              <Button
                variant="light"
                leftSection={<IconPlus size={16} />}
                disabled={v.variants.length >= 5}
                onClick={() => form.insertListItem("variants", { subject: "", template_id: null })}
              >
                Add a variant
              </Button>
            </Group>
            <Group grow align="flex-start" wrap="wrap">
              <NumberInput
                label="Test share of the audience (%)"
                min={1}
                max={100}
                miw={200}
                {...form.getInputProps("test_percent")}
              />
              <NumberInput
                label="Pick the winner after (minutes)"
                min={1}
                max={20160}
                miw={200}
                {...form.getInputProps("wait_minutes")}
              />
            </Group>
            <Stack gap={4}>
              <Text size="sm" fw={500} id="ab-metric-label">
                Winner by
              </Text>
              <SegmentedControl
                aria-labelledby="ab-metric-label"
                value={v.metric}
                onChange={(m) => form.setFieldValue("metric", m as "opens" | "clicks")}
                data={[
                  { value: "opens", label: "Open rate" },
                  { value: "clicks", label: "Click rate" },
                ]}
              />
              <Text size="xs" c="dimmed">
                The best rate after the wait wins (ties go to the earlier variant); you can also pick the winner by hand on the
                campaign page.
              </Text>
            </Stack>
          </Stack>
        ) : null}
      </Paper>
    </Stack>
  );
}
