"use client";

import {
  ActionIcon,
  Button,
  Group,
  NumberInput,
  Paper,
  SegmentedControl,
  Select,
  Stack,
  TagsInput,
  Text,
  TextInput,
  MultiSelect,
} from "@mantine/core";
import { IconPlus, IconTrash, IconFolderPlus } from "@tabler/icons-react";
import {
  MAX_DEPTH,
  OPERATORS,
  OP_LABELS,
  STANDARD_FIELDS,
  addChild,
  conditionKind,
  newCondition,
  newGroup,
  removeNode,
  shapeOf,
  subjectOf,
  updateNode,
  withSubject,
  type ConditionState,
  type CustomFieldInfo,
  type GroupState,
  type Kind,
  type ValueState,
} from "./rules";

export interface BuilderContext {
  customFields: CustomFieldInfo[];
  lists: { id: string; name: string }[];
  campaigns: { id: string; name: string }[];
  errors: Map<string, string[]>;
}

interface Props {
  value: GroupState;
  onChange: (next: GroupState) => void;
  context: BuilderContext;
}

export function SegmentBuilder({ value, onChange, context }: Props) {
  return (
    <GroupEditor
      group={value}
      depth={1}
      root={value}
      onChange={onChange}
      context={context}
      path="Rules"
    />
  );
}

interface GroupProps {
  group: GroupState;
  depth: number;
  root: GroupState;
  onChange: (next: GroupState) => void;
  context: BuilderContext;
  path: string;
}

function GroupEditor({ group, depth, root, onChange, context, path }: GroupProps) {
  const isRoot = group.id === root.id;
  const errors = context.errors.get(group.id) ?? [];
  return (
    <Paper
      withBorder
      p="sm"
      radius="md"
      role="group"
      aria-label={`${path}: ${group.combinator === "all" ? "all of" : "any of"}`}
      data-testid={isRoot ? "segment-root-group" : "segment-group"}
      bg={depth % 2 === 0 ? "var(--mantine-color-gray-0)" : undefined}
    >
      <Stack gap="xs">
        <Group justify="space-between" wrap="wrap" gap="xs">
          <Group gap="xs" wrap="wrap">
            <Text size="sm">Contacts matching</Text>
            <SegmentedControl
              size="xs"
              aria-label="How the rules of this group combine"
              data-testid="segment-group-combinator"
              value={group.combinator}
              onChange={(next) =>
                onChange(
                  updateNode(root, group.id, (node) =>
                    node.type === "group" ? { ...node, combinator: next as "all" | "any" } : node,
                  ),
                )
              }
              data={[
                { value: "all", label: "all (AND)" },
                { value: "any", label: "any (OR)" },
              ]}
            />
            <Text size="sm">of these rules</Text>
          </Group>
          {!isRoot && (
            <ActionIcon
              variant="subtle"
              color="red"
              aria-label="Remove this group"
              onClick={() => onChange(removeNode(root, group.id))}
            >
              <IconTrash size={16} />
            </ActionIcon>
          )}
        </Group>
        {group.children.length === 0 && (
          <Text size="sm" c="dimmed">
            {group.combinator === "all"
              ? "No rules: every contact matches."
              : "No rules: no contact matches."}
          </Text>
        )}
        {group.children.map((child, index) =>
          child.type === "group" ? (
            <GroupEditor
              key={child.id}
              group={child}
              depth={depth + 1}
              root={root}
              onChange={onChange}
              context={context}
              path={`${path}, group ${index + 1}`}
            />
          ) : (
            <ConditionEditor
              key={child.id}
              node={child}
              root={root}
              onChange={onChange}
              context={context}
              label={`${path}, rule ${index + 1}`}
            />
          ),
        )}
        {errors.map((message) => (
          <Text key={message} c="red" size="sm" role="alert">
            {message}
          </Text>
        ))}
        <Group gap="xs">
          <Button
            size="xs"
            variant="light"
            leftSection={<IconPlus size={14} />}
            data-testid="segment-add-rule"
            onClick={() => onChange(addChild(root, group.id, newCondition()))}
          >
            Add rule
          </Button>
          <Button
            size="xs"
            variant="subtle"
            leftSection={<IconFolderPlus size={14} />}
            data-testid="segment-add-group"
            disabled={depth >= MAX_DEPTH}
            title={depth >= MAX_DEPTH ? `Groups nest at most ${MAX_DEPTH} deep` : undefined}
            onClick={() =>
              onChange(
                addChild(
                  root,
                  group.id,
                  newGroup(group.combinator === "all" ? "any" : "all", [newCondition()]),
                ),
              )
            }
          >
            Add group
          </Button>
        </Group>
      </Stack>
    </Paper>
  );
}

interface ConditionProps {
  node: ConditionState;
  root: GroupState;
  onChange: (next: GroupState) => void;
  context: BuilderContext;
  label: string;
}

function ConditionEditor({ node, root, onChange, context, label }: ConditionProps) {
  const errors = context.errors.get(node.id) ?? [];
  const set = (next: ConditionState) => onChange(updateNode(root, node.id, () => next));
  const subjects = [
    {
      group: "Contact",
      items: STANDARD_FIELDS.map((f) => ({ value: `field:${f.name}`, label: f.label })),
    },
    ...(context.customFields.length
      ? [
          {
            group: "Custom fields",
            items: context.customFields.map((f) => ({ value: `custom:${f.key}`, label: f.label })),
          },
        ]
      : []),
    {
      group: "Lists and engagement",
      items: [
        { value: "list", label: "List membership" },
        { value: "event", label: "Engagement" },
      ],
    },
  ];
  const subject = subjectOf(node);
  const known = subjects.some((g) => g.items.some((i) => i.value === subject));
  if (!known && node.type === "custom") {
    subjects.push({ group: "Unknown", items: [{ value: subject, label: node.key }] });
  }
  return (
    <Paper withBorder p="xs" radius="sm" role="group" aria-label={label} data-testid="segment-rule">
      <Group align="flex-start" gap="xs" wrap="wrap">
        <Select
          label="Attribute"
          aria-label={`${label}: attribute`}
          data-testid="segment-rule-subject"
          data={subjects}
          value={subject}
          allowDeselect={false}
          searchable
          w={{ base: "100%", xs: 200 }}
          onChange={(next) => next && set(withSubject(node, next, context.customFields))}
        />
        {node.type === "field" || node.type === "custom" ? (
          <FieldRule node={node} set={set} context={context} label={label} />
        ) : node.type === "list" ? (
          <>
            <Select
              label="Membership"
              aria-label={`${label}: membership`}
              data={[
                { value: "in", label: "is on" },
                { value: "not_in", label: "is not on" },
              ]}
              value={node.op}
              allowDeselect={false}
              w={{ base: "100%", xs: 130 }}
              onChange={(next) => next && set({ ...node, op: next as "in" | "not_in" })}
            />
            <Select
              label="List"
              aria-label={`${label}: list`}
              data-testid="segment-rule-list"
              placeholder="Choose a list"
              data={context.lists.map((l) => ({ value: l.id, label: l.name }))}
              value={node.listId || null}
              searchable
              w={{ base: "100%", xs: 200 }}
              onChange={(next) => set({ ...node, listId: next ?? "" })}
            />
            <Select
              label="With status"
              aria-label={`${label}: membership status`}
              data={[
                { value: "", label: "any status" },
                { value: "subscribed", label: "subscribed" },
                { value: "unconfirmed", label: "unconfirmed" },
                { value: "unsubscribed", label: "unsubscribed" },
              ]}
              value={node.status}
              allowDeselect={false}
              w={{ base: "100%", xs: 150 }}
              onChange={(next) => set({ ...node, status: next ?? "" })}
            />
          </>
        ) : (
          <>
            <Select
              label="Did or did not"
              aria-label={`${label}: did or did not`}
              data={[
                { value: "did", label: "did" },
                { value: "did_not", label: "did not" },
              ]}
              value={node.op}
              allowDeselect={false}
              w={{ base: "100%", xs: 110 }}
              onChange={(next) => next && set({ ...node, op: next as "did" | "did_not" })}
            />
            <Select
              label="Event"
              aria-label={`${label}: event`}
              data={[
                { value: "received", label: "receive" },
                { value: "opened", label: "open" },
                { value: "clicked", label: "click" },
              ]}
              value={node.event}
              allowDeselect={false}
              w={{ base: "100%", xs: 120 }}
              onChange={(next) => next && set({ ...node, event: next })}
            />
            <Select
              label="Campaign"
              aria-label={`${label}: campaign`}
              data={[
                { value: "", label: "any campaign" },
                ...context.campaigns.map((c) => ({ value: c.id, label: c.name })),
              ]}
              value={node.campaignId}
              allowDeselect={false}
              searchable
              w={{ base: "100%", xs: 200 }}
              onChange={(next) => set({ ...node, campaignId: next ?? "" })}
            />
            <NumberInput
              label="Within days (empty: ever)"
              aria-label={`${label}: within how many days`}
              min={1}
              max={36500}
              allowDecimal={false}
              value={node.withinDays}
              w={{ base: "100%", xs: 170 }}
              onChange={(next) => set({ ...node, withinDays: String(next) })}
            />
          </>
        )}
        <ActionIcon
          variant="subtle"
          color="red"
          mt={26}
          aria-label={`Remove ${label.toLowerCase()}`}
          onClick={() => onChange(removeNode(root, node.id))}
        >
          <IconTrash size={16} />
        </ActionIcon>
      </Group>
      {errors.map((message) => (
        <Text key={message} c="red" size="sm" mt={4} role="alert" data-testid="segment-rule-error">
          {message}
        </Text>
      ))}
    </Paper>
  );
}

function FieldRule({
  node,
  set,
  context,
  label,
}: {
  node: Extract<ConditionState, { type: "field" | "custom" }>;
  set: (next: ConditionState) => void;
  context: BuilderContext;
  label: string;
}) {
  const kind = conditionKind(node, context.customFields);
  const choices =
    node.type === "field"
      ? STANDARD_FIELDS.find((f) => f.name === node.field)?.choices
      : context.customFields.find((f) => f.key === node.key)?.choices;
  const ops = OPERATORS[kind];
  const setValue = (value: Partial<ValueState>) => set({ ...node, value: { ...node.value, ...value } });
  return (
    <>
      <Select
        label="Condition"
        aria-label={`${label}: condition`}
        data-testid="segment-rule-op"
        data={ops.map((op) => ({ value: op, label: OP_LABELS[op] ?? op }))}
        value={ops.includes(node.op) ? node.op : null}
        allowDeselect={false}
        w={{ base: "100%", xs: 220 }}
        onChange={(next) => next && set({ ...node, op: next })}
      />
      <ValueInput
        kind={kind}
        op={node.op}
        value={node.value}
        choices={choices}
        onChange={setValue}
        label={label}
      />
    </>
  );
}

function ValueInput({
  kind,
  op,
  value,
  choices,
  onChange,
  label,
}: {
  kind: Kind;
  op: string;
  value: ValueState;
  choices?: string[] | undefined;
  onChange: (value: Partial<ValueState>) => void;
  label: string;
}) {
  const shape = shapeOf(op);
  if (shape === "none") return null;
  if (shape === "days") {
    return (
      <NumberInput
        label="Days"
        aria-label={`${label}: days`}
        data-testid="segment-rule-value"
        min={0}
        max={36500}
        allowDecimal={false}
        value={value.text}
        w={{ base: "100%", xs: 120 }}
        onChange={(next) => onChange({ text: String(next) })}
      />
    );
  }
  if (shape === "list") {
    if (kind === "choice" && choices) {
      return (
        <MultiSelect
          label="Values"
          aria-label={`${label}: values`}
          data-testid="segment-rule-value"
          data={choices}
          value={value.list}
          w={{ base: "100%", xs: 240 }}
          onChange={(next) => onChange({ list: next })}
        />
      );
    }
    return (
      <TagsInput
        label={kind === "tags" ? "Tags" : "Values"}
        aria-label={`${label}: values`}
        data-testid="segment-rule-value"
        description="Enter to add each"
        value={value.list}
        w={{ base: "100%", xs: 240 }}
        onChange={(next) => onChange({ list: next })}
      />
    );
  }
  if (shape === "pair") {
    return (
      <>
        <Single kind={kind} choices={choices} text={value.from} aria={`${label}: from`} name="From" onText={(text) => onChange({ from: text })} />
        <Single kind={kind} choices={choices} text={value.to} aria={`${label}: to`} name="To" onText={(text) => onChange({ to: text })} />
      </>
    );
  }
  return (
    <Single
      kind={kind}
      choices={choices}
      text={value.text}
      aria={`${label}: value`}
      name={kind === "tags" ? "Tag" : "Value"}
      testId="segment-rule-value"
      onText={(text) => onChange({ text })}
    />
  );
}

function Single({
  kind,
  choices,
  text,
  aria,
  name,
  testId,
  onText,
}: {
  kind: Kind;
  choices?: string[] | undefined;
  text: string;
  aria: string;
  name: string;
  testId?: string;
  onText: (text: string) => void;
}) {
  if (kind === "choice" && choices) {
    return (
      <Select label={name} aria-label={aria} data-testid={testId} data={choices} value={text || null} w={{ base: "100%", xs: 180 }} onChange={(next) => onText(next ?? "")} />
    );
  }
  if (kind === "boolean") {
    return (
      <Select
        label={name}
        aria-label={aria}
        data-testid={testId}
        data={[
          { value: "true", label: "true" },
          { value: "false", label: "false" },
        ]}
        value={text || null}
        w={{ base: "100%", xs: 110 }}
        onChange={(next) => onText(next ?? "")}
      />
    );
  }
  if (kind === "number") {
    return <NumberInput label={name} aria-label={aria} data-testid={testId} value={text} w={{ base: "100%", xs: 140 }} onChange={(next) => onText(String(next))} />;
  }
  if (kind === "date" || kind === "timestamp") {
    return <TextInput type="date" label={name} aria-label={aria} data-testid={testId} value={text} w={{ base: "100%", xs: 170 }} onChange={(e) => onText(e.currentTarget.value)} />;
  }
  return <TextInput label={name} aria-label={aria} data-testid={testId} value={text} w={{ base: "100%", xs: 200 }} onChange={(e) => onText(e.currentTarget.value)} />;
}
