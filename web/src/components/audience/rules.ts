// The segment rule language (docs/segments.md) as editable state, and back to JSON.

export type Kind = "text" | "choice" | "number" | "boolean" | "date" | "timestamp" | "tags";

export const OPERATORS: Record<Kind, string[]> = {
  text: [
    "eq",
    "neq",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "is_set",
    "is_not_set",
  ],
  choice: ["eq", "neq", "in", "not_in", "is_set", "is_not_set"],
  number: ["eq", "neq", "in", "not_in", "gt", "gte", "lt", "lte", "between", "is_set", "is_not_set"],
  boolean: ["eq", "is_set", "is_not_set"],
  date: ["before", "after", "on", "between", "within_last_days", "more_than_days_ago", "is_set", "is_not_set"],
  timestamp: ["before", "after", "on", "between", "within_last_days", "more_than_days_ago"],
  tags: ["has", "has_any", "has_all", "has_none"],
};

export const OP_LABELS: Record<string, string> = {
  eq: "is",
  neq: "is not",
  in: "is one of",
  not_in: "is none of",
  contains: "contains",
  not_contains: "does not contain",
  starts_with: "starts with",
  ends_with: "ends with",
  is_set: "is set",
  is_not_set: "is not set",
  gt: "is more than",
  gte: "is at least",
  lt: "is less than",
  lte: "is at most",
  between: "is between",
  before: "is before",
  after: "is after",
  on: "is on",
  within_last_days: "is within the last … days",
  more_than_days_ago: "is more than … days ago",
  has: "has the tag",
  has_any: "has any of the tags",
  has_all: "has all of the tags",
  has_none: "has none of the tags",
};

export interface StandardField {
  name: string;
  label: string;
  kind: Kind;
  choices?: string[];
}

export const STANDARD_FIELDS: StandardField[] = [
  { name: "email", label: "Email", kind: "text" },
  { name: "domain", label: "Email domain", kind: "text" },
  { name: "first_name", label: "First name", kind: "text" },
  { name: "last_name", label: "Last name", kind: "text" },
  { name: "status", label: "Status", kind: "choice", choices: ["subscribed", "unsubscribed", "bounced", "complained", "cleaned"] },
  { name: "source", label: "Source", kind: "choice", choices: ["import", "api", "form", "admin"] },
  { name: "timezone", label: "Time zone", kind: "text" },
  { name: "locale", label: "Locale", kind: "text" },
  { name: "created_at", label: "Created", kind: "timestamp" },
  { name: "updated_at", label: "Updated", kind: "timestamp" },
  { name: "tags", label: "Tags", kind: "tags" },
];

export interface CustomFieldInfo {
  key: string;
  label: string;
  type: "text" | "number" | "date" | "boolean" | "choice";
  choices: string[];
}

export const MAX_DEPTH = 6;

export type ValueShape = "none" | "single" | "list" | "pair" | "days";

export function shapeOf(op: string): ValueShape {
  if (op === "is_set" || op === "is_not_set") return "none";
  if (op === "in" || op === "not_in" || op === "has_any" || op === "has_all" || op === "has_none") return "list";
  if (op === "between") return "pair";
  if (op === "within_last_days" || op === "more_than_days_ago") return "days";
  return "single";
}

/** What the person typed, kept as text until the rules are sent. */
export interface ValueState {
  text: string;
  list: string[];
  from: string;
  to: string;
}

export const emptyValue = (): ValueState => ({ text: "", list: [], from: "", to: "" });

export type ConditionState =
  | { id: string; type: "field"; field: string; op: string; value: ValueState }
  | { id: string; type: "custom"; key: string; op: string; value: ValueState }
  | { id: string; type: "list"; listId: string; op: "in" | "not_in"; status: string }
  | { id: string; type: "event"; event: string; op: "did" | "did_not"; campaignId: string; withinDays: string };

export interface GroupState {
  id: string;
  type: "group";
  combinator: "all" | "any";
  children: NodeState[];
}

export type NodeState = ConditionState | GroupState;

let counter = 0;
export const newId = (): string => `n${++counter}`;

export function newGroup(combinator: "all" | "any" = "all", children: NodeState[] = []): GroupState {
  return { id: newId(), type: "group", combinator, children };
}

export function newCondition(): ConditionState {
  return { id: newId(), type: "field", field: "email", op: "ends_with", value: emptyValue() };
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function kindOfCustom(type: CustomFieldInfo["type"]): Kind {
  return type;
}

/** The kind of a field or custom field condition (text when the custom field is unknown). */
export function conditionKind(node: ConditionState, customFields: CustomFieldInfo[]): Kind {
  if (node.type === "field") return STANDARD_FIELDS.find((f) => f.name === node.field)?.kind ?? "text";
  if (node.type === "custom") {
    const field = customFields.find((f) => f.key === node.key);
    return field ? kindOfCustom(field.type) : "text";
  }
  return "text";
}

function scalar(kind: Kind, raw: string): Json {
  const text = raw.trim();
  if (kind === "number") {
    if (text === "") return null;
    const number = Number(text.replace(",", "."));
    return Number.isFinite(number) ? number : text;
  }
  if (kind === "boolean") {
    if (text === "true") return true;
    if (text === "false") return false;
    return text === "" ? null : text;
  }
  if (kind === "date" || kind === "timestamp") return text === "" ? null : text;
  return raw;
}

function valueJson(kind: Kind, op: string, value: ValueState): Json | undefined {
  switch (shapeOf(op)) {
    case "none":
      return undefined;
    case "list":
      return value.list.map((item) => scalar(kind === "tags" ? "text" : kind, item));
    case "pair":
      return [scalar(kind, value.from), scalar(kind, value.to)];
    case "days": {
      const text = value.text.trim();
      if (text === "") return null;
      const days = Number(text);
      return Number.isInteger(days) ? days : text;
    }
    default:
      return scalar(kind === "tags" ? "text" : kind, value.text);
  }
}

/** The rule tree as the API takes it; `paths` gets each node's path (`rules.all[0]`). */
export function toJson(
  node: NodeState,
  customFields: CustomFieldInfo[],
  paths?: Map<string, string>,
  path = "rules",
): Json {
  paths?.set(path, node.id);
  if (node.type === "group") {
    return {
      [node.combinator]: node.children.map((child, index) =>
        toJson(child, customFields, paths, `${path}.${node.combinator}[${index}]`),
      ),
    };
  }
  if (node.type === "list") {
    const out: { [key: string]: Json } = { list: node.listId, op: node.op };
    if (node.status) out.status = node.status;
    return out;
  }
  if (node.type === "event") {
    const out: { [key: string]: Json } = { event: node.event, op: node.op };
    if (node.campaignId) out.campaign_id = node.campaignId;
    const days = node.withinDays.trim();
    if (days !== "") out.within_days = Number.isInteger(Number(days)) ? Number(days) : days;
    return out;
  }
  const kind = conditionKind(node, customFields);
  const out: { [key: string]: Json } =
    node.type === "field" ? { field: node.field, op: node.op } : { custom_field: node.key, op: node.op };
  const value = valueJson(kind, node.op, node.value);
  if (value !== undefined) out.value = value;
  return out;
}

function asText(value: Json | undefined): string {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  return JSON.stringify(value);
}

function valueState(op: string, raw: Json | undefined): ValueState {
  const value = emptyValue();
  const shape = shapeOf(op);
  if (shape === "list" && Array.isArray(raw)) value.list = raw.map(asText);
  else if (shape === "pair" && Array.isArray(raw)) {
    value.from = asText(raw[0]);
    value.to = asText(raw[1]);
  } else value.text = asText(raw);
  return value;
}

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Editable state from stored rules; the root is always a group. */
export function fromJson(raw: Json | undefined): GroupState {
  const node = parseNode(raw);
  return node.type === "group" ? node : newGroup("all", [node]);
}

function parseNode(raw: Json | undefined): NodeState {
  if (!isObject(raw)) return newGroup();
  for (const combinator of ["all", "any"] as const) {
    const children = raw[combinator];
    if (Array.isArray(children)) return newGroup(combinator, children.map(parseNode));
  }
  const op = typeof raw.op === "string" ? raw.op : "";
  if (typeof raw.field === "string") {
    return { id: newId(), type: "field", field: raw.field, op, value: valueState(op, raw.value) };
  }
  if (typeof raw.custom_field === "string") {
    return { id: newId(), type: "custom", key: raw.custom_field, op, value: valueState(op, raw.value) };
  }
  if (typeof raw.list === "string") {
    return {
      id: newId(),
      type: "list",
      listId: raw.list,
      op: op === "not_in" ? "not_in" : "in",
      status: typeof raw.status === "string" ? raw.status : "",
    };
  }
  if (typeof raw.event === "string") {
    return {
      id: newId(),
      type: "event",
      event: raw.event,
      op: op === "did_not" ? "did_not" : "did",
      campaignId: typeof raw.campaign_id === "string" ? raw.campaign_id : "",
      withinDays: asText(raw.within_days),
    };
  }
  return newGroup();
}

// -- editing the tree (immutably) -----------------------------------------------------

export function updateNode(root: GroupState, id: string, change: (node: NodeState) => NodeState): GroupState {
  const visit = (node: NodeState): NodeState => {
    if (node.id === id) return change(node);
    if (node.type === "group") return { ...node, children: node.children.map(visit) };
    return node;
  };
  return visit(root) as GroupState;
}

export function removeNode(root: GroupState, id: string): GroupState {
  const visit = (node: GroupState): GroupState => ({
    ...node,
    children: node.children
      .filter((child) => child.id !== id)
      .map((child) => (child.type === "group" ? visit(child) : child)),
  });
  return visit(root);
}

export function addChild(root: GroupState, groupId: string, child: NodeState): GroupState {
  return updateNode(root, groupId, (node) =>
    node.type === "group" ? { ...node, children: [...node.children, child] } : node,
  );
}

/** Which node an API error path (`rules.all[2].any[0].value`) belongs to. */
export function nodeForPath(paths: Map<string, string>, errorPath: string): string | undefined {
  let best: string | undefined;
  let bestLength = -1;
  for (const [path, id] of paths) {
    const fits =
      errorPath === path || errorPath.startsWith(`${path}.`) || errorPath.startsWith(`${path}[`);
    if (fits && path.length > bestLength) {
      best = id;
      bestLength = path.length;
    }
  }
  return best;
}

/** A condition with its subject changed keeps an operator that still fits. */
export function withSubject(
  node: ConditionState,
  subject: string,
  customFields: CustomFieldInfo[],
): ConditionState {
  // subject: "field:<name>", "custom:<key>", "list", "event"
  if (subject === "list") {
    return { id: node.id, type: "list", listId: "", op: "in", status: "" };
  }
  if (subject === "event") {
    return { id: node.id, type: "event", event: "opened", op: "did", campaignId: "", withinDays: "30" };
  }
  const next: ConditionState = subject.startsWith("custom:")
    ? { id: node.id, type: "custom", key: subject.slice(7), op: "", value: emptyValue() }
    : { id: node.id, type: "field", field: subject.slice(6), op: "", value: emptyValue() };
  const kind = conditionKind(next, customFields);
  const previousOp = node.type === "field" || node.type === "custom" ? node.op : "";
  const ops = OPERATORS[kind];
  next.op = ops.includes(previousOp) ? previousOp : (ops[0] ?? "eq");
  if (previousOp === next.op && (node.type === "field" || node.type === "custom")) next.value = node.value;
  return next;
}

export function subjectOf(node: ConditionState): string {
  if (node.type === "field") return `field:${node.field}`;
  if (node.type === "custom") return `custom:${node.key}`;
  return node.type;
}
