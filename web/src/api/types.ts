// Short names for the generated schema's types.
import type { components } from "./schema";

export type Schemas = components["schemas"];
export type Me = Schemas["Me"];
export type WorkspaceWithRole = Schemas["WorkspaceWithRole"];
export type Role = WorkspaceWithRole["role"];
